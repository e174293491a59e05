"""The treasury section of a config bundle: which wallet transfers are allowed, and how much."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

# The two wallets Chimera moves funds between: Binance's spot (MAIN) and USDⓈ-M futures wallets.
Account = Literal["SPOT", "FUTURES"]
AssetCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,20}$")]
PositiveMs = Annotated[int, msgspec.Meta(gt=0)]


class TransferRoute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One whitelisted direction for one asset, e.g. USDT from SPOT to FUTURES."""

    asset: AssetCode
    from_account: Account
    to_account: Account

    def __post_init__(self) -> None:
        if self.from_account == self.to_account:
            raise ValueError(
                f"route {self.asset} {self.from_account}->{self.to_account} goes nowhere"
            )


class TreasuryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits and whitelist every transfer is checked against, plus the flow's timings.

    ``per_transfer_max`` and ``daily_max`` are per asset; an asset missing from either map cannot
    be transferred at all. The daily total counts every transfer of the asset created in the same
    UTC day that is not FAILED, REJECTED or still waiting for approval.
    """

    routes: tuple[TransferRoute, ...] = ()
    per_transfer_max: dict[AssetCode, Decimal] = {}
    daily_max: dict[AssetCode, Decimal] = {}
    # The route lock outlives the slowest venue call (ccxt timeout) plus a lookup.
    lock_ttl_ms: PositiveMs = 30_000
    # How long a request waits for a busy route before answering "busy, retry".
    lock_wait_ms: Annotated[int, msgspec.Meta(ge=0)] = 2_000
    # An UNKNOWN transfer the venue does not list is re-submitted only after this long (venue
    # clock) since its submission: longer than the venue's recvWindow, after which a delayed
    # request can no longer be executed.
    resubmit_after_ms: PositiveMs = 20_000
    # Venue transfers this far before the recorded submission time still count as a match
    # (clock skew between the venue's time endpoint and its transfer records).
    lookup_skew_ms: Annotated[int, msgspec.Meta(ge=0)] = 5_000

    def __post_init__(self) -> None:
        for name, limits in (
            ("per_transfer_max", self.per_transfer_max),
            ("daily_max", self.daily_max),
        ):
            for asset, limit in limits.items():
                if not limit > 0:
                    raise ValueError(f"{name}.{asset} must be greater than 0, got {limit}")

    def allows(self, asset: str, from_account: str, to_account: str) -> bool:
        """Tell whether the route (asset, from, to) is whitelisted."""
        return any(
            r.asset == asset and r.from_account == from_account and r.to_account == to_account
            for r in self.routes
        )


__all__ = ["Account", "AssetCode", "TransferRoute", "TreasuryPolicy"]
