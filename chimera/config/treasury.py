"""The treasury section of a config bundle: which wallet transfers are allowed, and how much.

``auto`` configures S6's scheduled treasury check (flow B8, docs/treasury.md): off by default,
so nothing is requested or moved until a bundle turns it on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

# The two wallets Chimera moves funds between: Binance's spot (MAIN) and USDⓈ-M futures wallets.
Account = Literal["SPOT", "FUTURES"]
AssetCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,20}$")]
PositiveMs = Annotated[int, msgspec.Meta(gt=0)]
# off: no check; manual: S6 files a request an operator must approve; auto: S6 has S1 run it.
TreasuryMode = Literal["off", "manual", "auto"]


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


class TreasuryAuto(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S6's scheduled check: keep at least ``min_free_fut`` of ``asset`` free in the futures wallet.

    Each tick computes ``need = max(0, min_free_fut - free_fut)`` (rounded up to
    ``amount_step``) and, when spot's free balance beyond ``spot_reserve`` covers it, requests a
    SPOT -> FUTURES transfer: awaiting an operator's approval (``manual``) or run by S1 at once
    (``auto``). At most one request per ``window_ms`` (its transfer_id names the window), and
    never while another request on the route is open; its own requests left unapproved for
    ``approval_ttl_ms`` expire.
    """

    mode: TreasuryMode = "off"
    asset: AssetCode = "USDT"
    min_free_fut: Decimal = Decimal(0)
    # Spot funds the check never moves (kept for spot trading).
    spot_reserve: Decimal = Decimal(0)
    # The need is rounded up to a multiple of this (the venue's transfer precision or coarser).
    amount_step: Decimal = Decimal("0.01")
    window_ms: PositiveMs = 3_600_000
    # A request of the check's own (manual mode) that no operator approved this long after it
    # was filed is REJECTED as expired: the need it was computed for is stale, and an open
    # request keeps the check from filing a fresh one.
    approval_ttl_ms: PositiveMs = 14_400_000

    def __post_init__(self) -> None:
        for name in ("min_free_fut", "spot_reserve"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"auto.{name} must be >= 0, got {getattr(self, name)}")
        if not self.amount_step > 0 or self.amount_step != self.amount_step.quantize(
            Decimal("1e-8")
        ):
            raise ValueError(
                f"auto.amount_step must be > 0 with at most 8 decimals, got {self.amount_step}"
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
    # S6's scheduled check (B8).
    auto: TreasuryAuto = TreasuryAuto()

    def __post_init__(self) -> None:
        for name, limits in (
            ("per_transfer_max", self.per_transfer_max),
            ("daily_max", self.daily_max),
        ):
            for asset, limit in limits.items():
                if not limit > 0:
                    raise ValueError(f"{name}.{asset} must be greater than 0, got {limit}")
        auto = self.auto
        if auto.mode != "off" and not self.allows(auto.asset, "SPOT", "FUTURES"):
            raise ValueError(
                f"auto.mode is {auto.mode} but the route {auto.asset} SPOT->FUTURES is not "
                "whitelisted in routes"
            )

    def allows(self, asset: str, from_account: str, to_account: str) -> bool:
        """Tell whether the route (asset, from, to) is whitelisted."""
        return any(
            r.asset == asset and r.from_account == from_account and r.to_account == to_account
            for r in self.routes
        )


__all__ = [
    "Account",
    "AssetCode",
    "TransferRoute",
    "TreasuryAuto",
    "TreasuryMode",
    "TreasuryPolicy",
]
