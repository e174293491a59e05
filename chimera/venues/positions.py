"""Open positions and spot holdings read through ccxt, as exact internal Structs.

Binance's wire shapes stay in this module: USDⓈ-M positions come from ``fetch_positions``
(``positionRisk``) and spot holdings from ``fetch_balance`` (``/api/v3/account``); both are parsed
from the venue's own strings (``info``) into ``Decimal``, never from ccxt's float fields.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from chimera.domain.orders import Market
from chimera.venues.ccxt_factory import Exchange

PositionSide = Literal["long", "short"]
ZERO = Decimal(0)


class VenuePosition(msgspec.Struct, frozen=True):
    """One open position: ``qty`` > 0 on ``side``; prices and PnL in the quote asset.

    ``entry_price``, ``mark_price`` and ``unrealized_pnl`` are ``None`` when unknown (a spot
    holding has no entry price at the venue).
    """

    market: Market
    symbol: str  # the venue's id, e.g. BTCUSDT
    side: PositionSide
    qty: Decimal
    entry_price: Decimal | None = None
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None  # futures only; None when the venue reports none


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def parse_position_risk(info: dict[str, Any]) -> VenuePosition | None:
    """Parse one ``positionRisk`` entry; ``None`` when the position is flat."""
    amount = _dec(info.get("positionAmt")) or ZERO
    if amount == ZERO:
        return None
    return VenuePosition(
        market="FUT",
        symbol=str(info["symbol"]),
        side="long" if amount > ZERO else "short",
        qty=abs(amount),
        entry_price=_dec(info.get("entryPrice")),
        mark_price=_dec(info.get("markPrice")),
        unrealized_pnl=_dec(info.get("unRealizedProfit", info.get("unrealizedProfit"))),
        liquidation_price=_dec(info.get("liquidationPrice")),
    )


async def fetch_futures_positions(exchange: Exchange) -> list[VenuePosition]:
    """Return the open USDⓈ-M positions of the account (``binanceusdm``)."""
    rows: list[dict[str, Any]] = await exchange.fetch_positions()
    parsed = (parse_position_risk(row.get("info") or {}) for row in rows)
    return sorted((p for p in parsed if p is not None), key=lambda p: p.symbol)


def parse_spot_balances(info: dict[str, Any]) -> dict[str, Decimal]:
    """Parse ``/api/v3/account``: each asset's total (free + locked)."""
    out: dict[str, Decimal] = {}
    for row in info.get("balances") or []:
        total = (_dec(row.get("free")) or ZERO) + (_dec(row.get("locked")) or ZERO)
        out[str(row["asset"])] = total
    return out


async def fetch_spot_balances(exchange: Exchange) -> dict[str, Decimal]:
    """Return every spot asset's total balance (``binance``)."""
    balance: dict[str, Any] = await exchange.fetch_balance()
    return parse_spot_balances(balance.get("info") or {})


async def fetch_spot_prices(exchange: Exchange) -> dict[str, Decimal]:
    """Return the last price of every spot symbol (``/api/v3/ticker/price``), by venue id."""
    rows: list[dict[str, Any]] = await exchange.publicGetTickerPrice()
    return {str(r["symbol"]): Decimal(str(r["price"])) for r in rows}


def spot_position(
    symbol: str, held: Decimal, baseline: Decimal, mark: Decimal | None
) -> VenuePosition | None:
    """Return the spot position of ``symbol``: what is ``held`` of its base asset beyond
    ``baseline`` (the account's starting holding); ``None`` when there is no difference."""
    delta = held - baseline
    if delta == ZERO:
        return None
    return VenuePosition(
        market="SPOT",
        symbol=symbol,
        side="long" if delta > ZERO else "short",
        qty=abs(delta),
        mark_price=mark,
    )
