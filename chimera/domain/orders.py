"""Orders: what S3 asks S4 to do (``OrderIntent``) and what S4 reports (``OrderResult``, ``Fill``).

Quantities and prices are ``Decimal``; times are venue epoch milliseconds. ``intent_id`` is the
idempotency key of an intent (and of each TWAP slice, via ``client_order_id``); S4 derives every
exchange-level ``client_order_id`` from it, so a redelivered intent maps to the same order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Market = Literal["FUT", "SPOT"]
Side = Literal["buy", "sell"]
# The side that reduces a position opened on the key's side.
OPPOSITE: dict[Side, Side] = {"buy": "sell", "sell": "buy"}
# How S4 executes: a market order; post-only at the touch then take after maker_wait; TWAP
# slices; SPOT native OCO; SPOT GuardStop (LIMIT_MAKER + watched stop); a conditional leg.
ExecStyle = Literal[
    "MARKET", "MAKER_TAKER", "TWAP", "OCO", "GUARD", "STOP_MARKET", "TAKE_PROFIT_MARKET"
]
Purpose = Literal["ENTRY", "EXIT", "SL", "TP", "ADD", "REDUCE"]
OrderStatus = Literal[
    "PENDING", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED", "UNKNOWN"
]


class OrderIntent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One instruction to S4 (from S3, S6, S5 or ``POST /orders``)."""

    intent_id: str
    market: Market
    symbol: str
    side: Side
    qty: Decimal  # base-asset quantity, before the venue's lot-size rounding
    exec: ExecStyle = "MARKET"
    purpose: Purpose = "ENTRY"
    reduce_only: bool = False
    limit_price: Decimal | None = None  # a cap for MAKER_TAKER / TWAP slices, if any
    trigger_price: Decimal | None = None  # STOP_MARKET / TAKE_PROFIT_MARKET / GUARD stop
    tp_price: Decimal | None = None  # SPOT OCO / GUARD take-profit leg
    sl_price: Decimal | None = None  # SPOT OCO / GUARD stop leg
    maker_wait_ms: int | None = None  # None: the config's router.maker_wait_ms
    twap_slices: int = 1
    twap_interval_ms: int = 0
    signal_id: str | None = None
    pos_id: str | None = None
    config_rev: int = 0
    created_ts_ms: int = 0


class OrderResult(msgspec.Struct, frozen=True):
    """An order's state as S4 last saw it; the payload of ``ord:{results}``."""

    intent_id: str
    client_order_id: str
    market: Market
    symbol: str
    side: Side
    status: OrderStatus
    purpose: Purpose
    qty: Decimal
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    venue_order_id: str | None = None
    order_type: str = ""  # the venue's type, e.g. LIMIT_MAKER, MARKET, STOP_MARKET
    reduce_only: bool = False
    pos_id: str | None = None
    signal_id: str | None = None
    message: str = ""
    ts_ms: int = 0


class Fill(msgspec.Struct, frozen=True):
    """One execution of one of our orders, with the execution-quality fields the spec asks for."""

    trade_id: str
    client_order_id: str
    intent_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    mid_at_send: Decimal | None
    top3: tuple[tuple[Decimal, Decimal], ...]  # the book's three best levels on the far side
    slippage_bps: Decimal | None  # signed: positive = worse than mid_at_send
    ts_ms: int


def rejection_of(intent: OrderIntent, message: str, ts_ms: int) -> OrderResult:
    """Return the ``REJECTED`` result of an intent refused before any order was sent."""
    return OrderResult(
        intent_id=intent.intent_id,
        client_order_id="",
        market=intent.market,
        symbol=intent.symbol,
        side=intent.side,
        status="REJECTED",
        purpose=intent.purpose,
        qty=intent.qty,
        reduce_only=intent.reduce_only,
        pos_id=intent.pos_id,
        signal_id=intent.signal_id,
        message=message[:500],
        ts_ms=ts_ms,
    )
