"""End-of-scenario invariants: the venue, the ``orders`` table and the B7 risk counters agree.

Use them at the end of every scenario test (venue faults, crashes, reconciles)::

    view = await VenueView.read(venue, pool)
    assert_no_double_orders(view)
    assert_db_matches_venue(view)
    assert_positions_match(view)
    await assert_risk_counters_match(redis, pool)

or all at once, polled until the system has settled: ``await settled(venue, redis, pool)``.

The venue is read with raw ccxt calls (Binance's own ``info`` fields), not through
``chimera.venues.orders``, so a bug in the product's parsing cannot hide a mismatch.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from chimera import names
from chimera.paper.venue import PaperVenue
from chimera.risk import RiskLedger, margin_units
from chimera_workers.connections import RedisClient
from tests.chimera.paper.venue_fixtures import ccxt_exchange

ZERO = Decimal(0)
OPEN = frozenset({"PENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED"})
CONDITIONAL = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
CLOSING = frozenset({"SL", "TP", "EXIT", "REDUCE"})
# Binance's order / algo-order statuses as S4 records them.
_STATUS = {
    "NEW": "NEW",
    "PARTIALLY_FILLED": "PARTIALLY_FILLED",
    "FILLED": "FILLED",
    "CANCELED": "CANCELED",
    "EXPIRED": "EXPIRED",
    "EXPIRED_IN_MATCH": "EXPIRED",
    "REJECTED": "REJECTED",
}
_MARKETS = {"FUT": ("perp", ":USDT"), "SPOT": ("spot", "")}  # ccxt kind, symbol suffix


@dataclass
class VenueOrder:
    """One venue order, from Binance's raw fields."""

    client_order_id: str
    status: str  # ours (``_STATUS``); a triggered algo order: the status of the order it became
    filled_qty: Decimal
    side: str
    conditional: bool
    order_id: str
    actual_order_id: str | None = None


@dataclass
class VenueView:
    """Every order of the traded symbols at the venue, every ``orders`` row, net positions."""

    orders: dict[tuple[str, str], list[VenueOrder]] = field(default_factory=dict)
    rows: list[asyncpg.Record] = field(default_factory=list)
    positions: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    triggered: set[tuple[str, str]] = field(default_factory=set)  # (market, order id) of triggers

    @classmethod
    async def read(cls, venue: PaperVenue, pool: asyncpg.Pool) -> VenueView:
        """Read the DB rows, then every order (regular and algo) of their markets and symbols."""
        view = cls(rows=list(await pool.fetch("SELECT * FROM orders ORDER BY client_order_id")))
        for market, symbol in sorted({(r["market"], r["symbol"]) for r in view.rows}):
            await view._read_market(venue, market, symbol)
        return view

    async def _read_market(self, venue: PaperVenue, market: str, symbol: str) -> None:
        kind, suffix = _MARKETS[market]
        ccxt_symbol = f"{symbol.removesuffix('USDT')}/USDT{suffix}"
        async with ccxt_exchange(venue, kind) as exchange:
            ex: Any = exchange
            regular = await ex.fetch_orders(ccxt_symbol, None, 1000)
            algos = (
                await ex.fetch_orders(ccxt_symbol, None, 1000, {"trigger": True})
                if (market == "FUT")
                else []
            )
            if market == "FUT":
                positions = await ex.fetch_positions([ccxt_symbol])
                net = sum(
                    (
                        Decimal(str(p["info"]["positionAmt"]))
                        for p in positions
                        if p["info"].get("symbol") == symbol
                    ),
                    ZERO,
                )
                self.positions[(market, symbol)] = net
        by_id = {str(o["info"]["orderId"]): o["info"] for o in regular}
        found: list[VenueOrder] = []
        for o in regular:
            info = o["info"]
            found.append(
                VenueOrder(
                    str(info.get("clientOrderId", "")),
                    _STATUS[str(info["status"])],
                    Decimal(str(info["executedQty"])),
                    str(info["side"]).lower(),
                    False,
                    str(info["orderId"]),
                )
            )
        for o in algos:
            info = o["info"]
            actual = str(info["actualOrderId"]) if info.get("actualOrderId") else None
            status, filled = _algo_state(info, by_id.get(actual) if actual else None)
            if actual is not None:
                self.triggered.add((market, actual))
            found.append(
                VenueOrder(
                    str(info["clientAlgoId"]),
                    status,
                    filled,
                    str(info["side"]).lower(),
                    True,
                    str(info["algoId"]),
                    actual,
                )
            )
        self.orders[(market, symbol)] = found

    def venue_orders_of(self, row: asyncpg.Record) -> list[VenueOrder]:
        """Return the venue orders with the row's client order id (on its market and symbol)."""
        listed = self.orders.get((row["market"], row["symbol"]), [])
        return [o for o in listed if o.client_order_id == row["client_order_id"]]


def _algo_state(info: dict[str, Any], actual: dict[str, Any] | None) -> tuple[str, Decimal]:
    status = str(info["algoStatus"])
    if status in ("TRIGGERED", "FINISHED"):
        if actual is None:
            return "FILLED", ZERO  # the order it became is not listed (yet)
        return _STATUS[str(actual["status"])], Decimal(str(actual["executedQty"]))
    return _STATUS.get(status, status), ZERO


def assert_no_double_orders(view: VenueView) -> None:
    """No client order id twice at the venue; every venue order has one ``orders`` row.

    A row the venue acknowledged (it has a ``venue_order_id``) has exactly one venue order, and
    no order of ours is at the venue without a row (an orphan: a send S4 lost track of). The
    regular orders triggered conditional orders became are the conditional leg's, not orphans.
    """
    known = {r["client_order_id"] for r in view.rows}
    problems: list[str] = []
    for (market, symbol), orders in view.orders.items():
        counts: dict[str, int] = defaultdict(int)
        for order in orders:
            counts[order.client_order_id] += 1
            if order.client_order_id not in known and (market, order.order_id) not in (
                view.triggered
            ):
                problems.append(f"{market} {symbol}: venue order {order} has no orders row")
        problems += [
            f"{market} {symbol}: {coid!r} is {n} venue orders"
            for coid, n in counts.items()
            if n > 1
        ]
    for row in view.rows:
        matches = view.venue_orders_of(row)
        if row["venue_order_id"] is not None and len(matches) != 1:
            problems.append(f"row {row['client_order_id']} has {len(matches)} venue orders")
    assert not problems, "\n".join(problems)


def assert_db_matches_venue(view: VenueView, *, allow_open: bool = False) -> None:
    """Every row's status and filled quantity equal the venue's order (conditional ones too).

    A row the venue never saw is REJECTED (refused) or CANCELED (cancelled before it existed);
    PENDING / UNKNOWN left at the end fail unless ``allow_open``.
    """
    problems: list[str] = []
    for row in view.rows:
        coid, status = row["client_order_id"], row["status"]
        matches = view.venue_orders_of(row)
        if status in ("PENDING", "UNKNOWN"):
            if not allow_open:
                problems.append(f"{coid} is still {status} ({row['message']})")
            continue
        if not matches:
            if status not in ("REJECTED", "CANCELED") or row["filled_qty"] != 0:
                problems.append(f"{coid} is {status} but the venue has no such order")
            continue
        (order,) = matches[:1]
        if (order.status, order.filled_qty) != (status, row["filled_qty"]):
            problems.append(
                f"{coid}: row {status} {row['filled_qty']}, venue {order.status} {order.filled_qty}"
            )
    assert not problems, "\n".join(problems)


async def assert_fills_match(pool: asyncpg.Pool) -> None:
    """Every row's ``fills`` add up to its filled quantity (a fill is never lost nor doubled)."""
    rows = await pool.fetch(
        "SELECT o.client_order_id, o.filled_qty, COALESCE(sum(f.qty), 0) AS fill_sum "
        "FROM orders o LEFT JOIN fills f ON f.client_order_id = o.client_order_id "
        "GROUP BY o.client_order_id, o.filled_qty"
    )
    wrong = [dict(r) for r in rows if r["filled_qty"] != r["fill_sum"]]
    assert not wrong, f"fills do not add up to filled_qty: {wrong}"


def assert_positions_match(view: VenueView) -> None:
    """The venue's futures position of each symbol equals the net of the rows' fills."""
    for (market, symbol), venue_net in view.positions.items():
        rows = [r for r in view.rows if (r["market"], r["symbol"]) == (market, symbol)]
        db_net = sum(
            (r["filled_qty"] if r["side"] == "buy" else -r["filled_qty"] for r in rows), ZERO
        )
        assert db_net == venue_net, f"{market} {symbol}: orders net {db_net}, venue {venue_net}"


# --- B7: the risk counters ------------------------------------------------------------------
@dataclass
class Entry:
    """An entry intent (a position), its add-ons and the orders that close what they opened.

    As ``handlers/s6_positions/position.py``: the entry's rows are ``intent_id = <entry>``;
    add-ons (``ADD``) and stops, take-profits and exits (``SL`` / ``TP`` / ``EXIT`` /
    ``REDUCE``) carry ``pos_id = <entry>``; a SPOT bracket's exits are rows of the entry's own
    intent with purpose TP / SL / EXIT.
    """

    intent_id: str
    symbol: str
    reservation_id: str | None
    rows: list[asyncpg.Record] = field(default_factory=list)
    adds: list[asyncpg.Record] = field(default_factory=list)
    closing: list[asyncpg.Record] = field(default_factory=list)
    twap_slices: int = 1

    @property
    def is_open(self) -> bool:
        """Tell whether the entry still holds risk (``handlers/s6_positions/close.py``)."""
        if not self.rows:
            return True  # accepted, nothing sent yet (a queued TWAP)
        if any(r["status"] in OPEN for r in self.rows + self.adds):
            return True
        slices = [r for r in self.rows if r["client_order_id"].rpartition(".")[2][:1] == "s"]
        if slices and len(slices) < self.twap_slices:
            return True
        opened = sum((r["filled_qty"] for r in self.rows + self.adds), ZERO)
        closed = sum((r["filled_qty"] for r in self.closing), ZERO)
        return opened > 0 and closed < opened

    def held_add_ons(self) -> set[str]:
        """Return the add-on reservations an open position holds (add-ons that filled)."""
        if not self.is_open:
            return set()
        return {r["intent_id"] for r in self.adds if r["filled_qty"] > 0 or r["status"] in OPEN}


async def entries(pool: asyncpg.Pool) -> list[Entry]:
    """Return every accepted ENTRY intent with its rows (refused intents are not entries)."""
    intents = await pool.fetch(
        "SELECT ref_id, body FROM strategy_events WHERE kind = 'ORDER_INTENT' "
        "AND body->>'purpose' = 'ENTRY'"
    )
    rows = await pool.fetch("SELECT * FROM orders")
    found: list[Entry] = []
    for raw in intents:
        body = json.loads(raw["body"])
        intent_id = raw["ref_id"]
        reservation = body.get("signal_id") or (
            intent_id.removesuffix(":entry") if intent_id.endswith(":entry") else None
        )
        entry = Entry(
            intent_id, body["symbol"], reservation, twap_slices=body.get("twap_slices") or 1
        )
        for row in rows:
            own = row["intent_id"] == intent_id
            if own and row["purpose"] == "ENTRY":
                entry.rows.append(row)
            elif row["pos_id"] == intent_id and row["purpose"] == "ADD":
                entry.adds.append(row)
            elif (own and row["purpose"] in CLOSING) or (
                row["pos_id"] == intent_id and row["purpose"] in CLOSING
            ):
                entry.closing.append(row)
        found.append(entry)
    return found


async def assert_risk_counters_match(
    redis: RedisClient, pool: asyncpg.Pool, symbols: tuple[str, ...] = ("BTCUSDT",)
) -> None:
    """The B7 counters equal what the open positions hold.

    * ``risk:{budget}:fut_margin:inuse`` = the sum of the live reservations' margins, and an
      entry's margin is S3's decision (``signals.decision.margin_usdt``, when S3 made it);
    * ``risk:{budget}:concurrency:<symbol>`` (and the add-on slot of the symbol) = the live
      reservations in that slot, and the spec's mirror ``risk:{concurrency}:<symbol>`` agrees;
    * the live reservations are exactly the open positions' own (its signal's) and their
      filled add-ons' (a position is open while an entry or add-on order may still fill, or
      while its stops and exits have closed less than it opened).
    """
    ledger = RiskLedger(redis).ledger
    concurrency = [names.risk_concurrency_key(s) for s in symbols]
    add_on_slots = [names.risk_add_on_slot_key(s) for s in symbols]
    snap = await ledger.snapshot([*concurrency, *add_on_slots])
    live = snap.reservations
    assert snap.total == sum(h.amount for h in live.values()), (
        f"margin in use {snap.total} != live reservations {live}"
    )
    for key in (*concurrency, *add_on_slots):
        held = sum(1 for h in live.values() if h.slot_key == key)
        assert snap.slots[key] == held, f"{key} = {snap.slots[key]}, {held} reservations live"
    for symbol, key in zip(symbols, concurrency, strict=True):
        mirror = await redis.get(names.risk_concurrency_mirror_key(symbol))
        assert int(mirror or 0) == snap.slots[key], f"mirror of {symbol} = {mirror!r}"
    found = await entries(pool)
    expected: set[str] = set()
    for entry in found:
        if entry.is_open and entry.reservation_id is not None:
            expected.add(entry.reservation_id)
        expected |= entry.held_add_ons()
    assert expected <= set(live), f"open positions without a reservation: {expected - set(live)}"
    stray = set(live) - expected
    assert not stray, f"reservations held by no open position: {stray}"
    for reservation_id, held_amount in live.items():
        raw = await pool.fetchval(
            "SELECT decision FROM signals WHERE signal_id = $1", reservation_id
        )
        margin = None if raw is None else json.loads(raw).get("margin_usdt")
        if margin is not None:
            assert held_amount.amount == margin_units(Decimal(str(margin))), reservation_id


async def check_all(venue: PaperVenue, redis: RedisClient, pool: asyncpg.Pool) -> None:
    """Run every invariant once (raises AssertionError on the first one that fails)."""
    view = await VenueView.read(venue, pool)
    assert_no_double_orders(view)
    assert_db_matches_venue(view)
    assert_positions_match(view)
    await assert_fills_match(pool)
    symbols = tuple(sorted({r["symbol"] for r in view.rows})) or ("BTCUSDT",)
    await assert_risk_counters_match(redis, pool, symbols)


async def settled(
    venue: PaperVenue, redis: RedisClient, pool: asyncpg.Pool, within: float = 30.0
) -> None:
    """Poll ``check_all`` until it passes (workers still settling); fail with its last error."""
    deadline = time.monotonic() + within
    while True:
        try:
            await check_all(venue, redis, pool)
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(0.2)


__all__ = [
    "Entry",
    "VenueOrder",
    "VenueView",
    "assert_db_matches_venue",
    "assert_fills_match",
    "assert_no_double_orders",
    "assert_positions_match",
    "assert_risk_counters_match",
    "check_all",
    "entries",
    "settled",
]
