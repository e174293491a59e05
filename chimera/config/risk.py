"""The ``risk:`` section of a config bundle: the caps S3 reserves against before an entry (B7).

Every entry reserves its initial margin (``notional / leverage``) against the futures margin
budget and one unit of its symbol's concurrency, atomically (``chimera.risk``); S6/S5 release
both when the position closes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec


class RiskConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The risk budget and concurrency caps S3 reserves against (B7)."""

    # Cap of ``risk:{budget}:fut_margin:inuse``: the USDT margin all open entries may hold.
    fut_margin_cap_usdt: Decimal = Decimal("2000")
    # Open positions (held reservations) per symbol.
    max_concurrent_per_symbol: Annotated[int, msgspec.Meta(ge=0, le=1_000)] = 1
    # Margin of an entry = notional / leverage (the futures leverage S4 trades with).
    leverage: Decimal = Decimal("5")
    # A refused or released reservation id is remembered this long, so a late duplicate of the
    # same signal gets the first outcome instead of reserving again.
    tombstone_ttl_ms: Annotated[int, msgspec.Meta(gt=0)] = 7 * 86_400_000

    def __post_init__(self) -> None:
        # msgspec cannot constrain Decimal fields, so they are checked here.
        if not self.fut_margin_cap_usdt.is_finite() or self.fut_margin_cap_usdt < 0:
            raise ValueError(f"fut_margin_cap_usdt must be >= 0, got {self.fut_margin_cap_usdt}")
        if not self.leverage.is_finite() or not 1 <= self.leverage <= 125:
            raise ValueError(f"leverage must be within [1, 125], got {self.leverage}")


__all__ = ["RiskConfig"]
