"""The venue's state: balances, orders, fills, positions, income, transfers and id counters.

These Structs are the venue's own mutable records (not messages): the engine updates them in
place and ``persistence`` saves them as JSON (a snapshot of the open state plus the history,
``history``). Orders are never removed and a final record never changes again, which the
history relies on. Every amount is a Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from chimera.paper.markets import VenueKind

ZERO = Decimal(0)
Side = Literal["BUY", "SELL"]

# Binance order statuses that end an order's life.
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


class Order(msgspec.Struct, kw_only=True):
    """One order on the spot or futures order endpoint."""

    order_id: int
    client_order_id: str
    symbol: str
    kind: VenueKind
    side: Side
    type: str  # Binance's type: LIMIT, MARKET, LIMIT_MAKER, STOP_LOSS_LIMIT, ...
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    time_ms: int
    update_ms: int
    stop_price: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    orig_quote_qty: Decimal = ZERO
    status: str = "NEW"
    working_ms: int = -1  # -1 until the order works (a spot stop order until its stop fires)
    order_list_id: int = -1
    reduce_only: bool = False
    close_position: bool = False
    # Queue-position model: quantity resting ahead of this order at its price.
    queue_ahead: Decimal = ZERO
    # Spot funds this order still holds locked (quote for a buy, base for a sell).
    locked: Decimal = ZERO
    orig_type: str = ""
    working_type: str = "CONTRACT_PRICE"

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"


class Fill(msgspec.Struct, kw_only=True):
    """One execution of one of our orders."""

    trade_id: int
    order_id: int
    symbol: str
    kind: VenueKind
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    maker: bool
    time_ms: int
    realized_pnl: Decimal = ZERO
    order_list_id: int = -1


class Balance(msgspec.Struct, kw_only=True):
    """One spot asset: free and locked in open orders."""

    free: Decimal = ZERO
    locked: Decimal = ZERO


class Position(msgspec.Struct, kw_only=True):
    """A one-way-mode USDⓈ-M position (``amount`` > 0 long, < 0 short)."""

    symbol: str
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    leverage: int = 10
    margin_type: Literal["cross", "isolated"] = "cross"
    update_ms: int = 0


class Income(msgspec.Struct, kw_only=True):
    """One futures income record (``/fapi/v1/income``)."""

    tran_id: int
    symbol: str
    income_type: str  # REALIZED_PNL, COMMISSION, FUNDING_FEE, TRANSFER
    income: Decimal
    asset: str
    time_ms: int
    trade_id: str = ""
    info: str = ""


class Transfer(msgspec.Struct, kw_only=True):
    """One wallet transfer between spot and USDⓈ-M futures."""

    tran_id: int
    asset: str
    amount: Decimal
    type: str  # MAIN_UMFUTURE or UMFUTURE_MAIN
    time_ms: int
    status: str = "CONFIRMED"


class AlgoOrder(msgspec.Struct, kw_only=True):
    """A USDⓈ-M conditional order on Binance's algo-order endpoint."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: Side
    order_type: str  # STOP_MARKET, TAKE_PROFIT_MARKET, STOP, TAKE_PROFIT
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    working_type: str
    time_in_force: str
    reduce_only: bool
    close_position: bool
    price_protect: bool
    create_ms: int
    update_ms: int
    status: str = "NEW"  # NEW, CANCELED, TRIGGERED, FINISHED, REJECTED, EXPIRED
    trigger_ms: int = 0
    actual_order_id: str = ""
    executed_qty: Decimal = ZERO
    avg_price: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"


class OrderList(msgspec.Struct, kw_only=True):
    """A spot OCO: two orders where one working cancels the other."""

    order_list_id: int
    list_client_order_id: str
    symbol: str
    order_ids: list[int]
    time_ms: int
    list_status_type: str = "EXEC_STARTED"  # EXEC_STARTED, ALL_DONE
    list_order_status: str = "EXECUTING"  # EXECUTING, ALL_DONE


class Counters(msgspec.Struct, kw_only=True):
    """Id sequences; every id the venue hands out comes from here (deterministic)."""

    spot_order: int = 1_000
    futures_order: int = 5_000_000
    trade: int = 100
    algo: int = 3_000
    order_list: int = 10
    tran: int = 900_000

    def next(self, name: str) -> int:
        value: int = getattr(self, name) + 1
        setattr(self, name, value)
        return value


class SpotState(msgspec.Struct, kw_only=True):
    balances: dict[str, Balance] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)
    fills: list[Fill] = msgspec.field(default_factory=list)
    order_lists: dict[int, OrderList] = msgspec.field(default_factory=dict)


class FuturesState(msgspec.Struct, kw_only=True):
    wallet: dict[str, Decimal] = msgspec.field(default_factory=dict)
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)
    fills: list[Fill] = msgspec.field(default_factory=list)
    algo_orders: dict[int, AlgoOrder] = msgspec.field(default_factory=dict)
    income: list[Income] = msgspec.field(default_factory=list)
    update_ms: int = 0


class VenueState(msgspec.Struct, kw_only=True):
    """Everything the venue keeps across restarts."""

    spot: SpotState = msgspec.field(default_factory=SpotState)
    futures: FuturesState = msgspec.field(default_factory=FuturesState)
    transfers: list[Transfer] = msgspec.field(default_factory=list)
    counters: Counters = msgspec.field(default_factory=Counters)
