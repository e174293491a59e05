"""The paper venue's instruments and their Binance filters (tick size, lot size, min notional)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

VenueKind = Literal["spot", "perp"]


class MarketSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One tradable instrument as Binance's exchangeInfo describes it."""

    symbol: str
    kind: VenueKind
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    # Synthetic-market starting price; a replayed capture takes its prices from the recording.
    start_price: Decimal = Decimal("100")

    @property
    def price_precision(self) -> int:
        return -self.tick_size.normalize().as_tuple().exponent  # type: ignore[operator]

    @property
    def qty_precision(self) -> int:
        return -self.step_size.normalize().as_tuple().exponent  # type: ignore[operator]


def _d(text: str) -> Decimal:
    return Decimal(text)


# Filters and fees copied from Binance's public exchangeInfo / fee schedule (VIP 0).
DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        "BTCUSDT",
        "spot",
        "BTC",
        "USDT",
        _d("0.01"),
        _d("0.00001"),
        _d("0.00001"),
        _d("9000"),
        _d("5"),
        _d("0.001"),
        _d("0.001"),
        _d("60000"),
    ),
    MarketSpec(
        "ETHUSDT",
        "spot",
        "ETH",
        "USDT",
        _d("0.01"),
        _d("0.0001"),
        _d("0.0001"),
        _d("9000"),
        _d("5"),
        _d("0.001"),
        _d("0.001"),
        _d("3000"),
    ),
    MarketSpec(
        "SOLUSDT",
        "spot",
        "SOL",
        "USDT",
        _d("0.01"),
        _d("0.001"),
        _d("0.001"),
        _d("9000"),
        _d("5"),
        _d("0.001"),
        _d("0.001"),
        _d("150"),
    ),
    MarketSpec(
        "BTCUSDT",
        "perp",
        "BTC",
        "USDT",
        _d("0.10"),
        _d("0.001"),
        _d("0.001"),
        _d("1000"),
        _d("100"),
        _d("0.0002"),
        _d("0.0005"),
        _d("60000"),
    ),
    MarketSpec(
        "ETHUSDT",
        "perp",
        "ETH",
        "USDT",
        _d("0.01"),
        _d("0.001"),
        _d("0.001"),
        _d("10000"),
        _d("20"),
        _d("0.0002"),
        _d("0.0005"),
        _d("3000"),
    ),
    MarketSpec(
        "SOLUSDT",
        "perp",
        "SOL",
        "USDT",
        _d("0.01"),
        _d("1"),
        _d("1"),
        _d("1000000"),
        _d("5"),
        _d("0.0002"),
        _d("0.0005"),
        _d("150"),
    ),
)


def markets_of(
    kind: VenueKind, markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS
) -> dict[str, MarketSpec]:
    """Return the instruments of one venue kind by symbol."""
    return {m.symbol: m for m in markets if m.kind == kind}
