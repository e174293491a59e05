"""S4's PostgreSQL rows: accepted intents, ``orders`` at every state, ``fills``, notable events.

An accepted intent is a ``strategy_events`` row (kind ``ORDER_INTENT``, id ``intent:<intent_id>``)
holding the intent as JSON; a kill-switch refusal is another (``ORDER_REFUSED``). Both inserts
are ``ON CONFLICT DO NOTHING``, so the first writer wins and a repeat reads what was stored.
``orders`` is keyed by ``client_order_id``; ``fills`` by (symbol, trade id), so rewriting a fill
is a no-op.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from chimera.domain.orders import Fill, Market, OrderIntent, OrderResult, OrderStatus, Purpose, Side

INTENT_KIND = "ORDER_INTENT"
REFUSED_KIND = "ORDER_REFUSED"
_INTENT = msgspec.json.Decoder(OrderIntent)
OPEN_STATES: frozenset[str] = frozenset({"PENDING", "NEW", "PARTIALLY_FILLED", "UNKNOWN"})


class OrderRecord(msgspec.Struct, frozen=True):
    """One row of ``orders``."""

    client_order_id: str
    intent_id: str
    market: Market
    symbol: str
    side: Side
    order_type: str
    purpose: Purpose
    status: OrderStatus
    qty: Decimal
    created_ts_ms: int
    updated_ts_ms: int
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    venue_order_id: str | None = None
    pos_id: str | None = None
    signal_id: str | None = None
    message: str = ""

    @property
    def is_open(self) -> bool:
        """Return whether the order may still change (resting, or its outcome not known)."""
        return self.status in OPEN_STATES

    def result(self) -> OrderResult:
        """Return this row as the ``OrderResult`` published on ``ord:{results}``."""
        return OrderResult(
            intent_id=self.intent_id,
            client_order_id=self.client_order_id,
            market=self.market,
            symbol=self.symbol,
            side=self.side,
            status=self.status,
            purpose=self.purpose,
            qty=self.qty,
            filled_qty=self.filled_qty,
            avg_price=self.avg_price,
            venue_order_id=self.venue_order_id,
            order_type=self.order_type,
            reduce_only=self.reduce_only,
            pos_id=self.pos_id,
            signal_id=self.signal_id,
            message=self.message,
            ts_ms=self.updated_ts_ms,
        )


_COLUMNS = tuple(OrderRecord.__struct_fields__)
_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(_COLUMNS)))}) "
    "ON CONFLICT (client_order_id) DO NOTHING"
)
_UPDATE_ORDER = (
    "UPDATE orders SET status = $2, filled_qty = $3, avg_price = $4, venue_order_id = $5, "
    "message = $6, updated_ts_ms = $7, price = COALESCE($8, price), "
    "trigger_price = COALESCE($9, trigger_price) WHERE client_order_id = $1"
)
_INSERT_FILL = (
    "INSERT INTO fills (trade_id, symbol, client_order_id, intent_id, side, price, qty, fee, "
    "fee_asset, is_maker, mid_at_send, top3, slippage_bps, ts_ms) VALUES ($1, $2, $3, $4, $5, "
    "$6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14) ON CONFLICT (symbol, trade_id) DO NOTHING"
)
_INSERT_EVENT = (
    "INSERT INTO strategy_events (event_id, kind, symbol, ref_id, body, ts_ms) "
    "VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (event_id) DO NOTHING"
)


_SQL_TYPES = {
    "qty": "numeric", "price": "numeric", "trigger_price": "numeric", "filled_qty": "numeric",
    "avg_price": "numeric", "created_ts_ms": "bigint", "updated_ts_ms": "bigint",
    "reduce_only": "boolean",
}  # fmt: skip
# Accept an intent and claim its first order in one statement (one commit on the hot path).
_ACCEPT_WITH_ORDER = (
    "WITH accepted AS (INSERT INTO strategy_events (event_id, kind, symbol, ref_id, body, ts_ms) "
    "VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (event_id) DO NOTHING RETURNING event_id), "
    f"claimed AS (INSERT INTO orders ({', '.join(_COLUMNS)}) SELECT "
    + ", ".join(f"${i + 7}::{_SQL_TYPES.get(name, 'text')}" for i, name in enumerate(_COLUMNS))
    + " FROM accepted ON CONFLICT (client_order_id) DO NOTHING RETURNING client_order_id) "
    "SELECT (SELECT count(*) FROM accepted) AS accepted, (SELECT count(*) FROM claimed) AS claimed"
)


def _record(row: asyncpg.Record) -> OrderRecord:
    return msgspec.convert(dict(row), OrderRecord)


class OrderStore:
    """S4's reads and writes on one PostgreSQL pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add_event(
        self, event_id: str, kind: str, symbol: str, ref_id: str, body: Any, ts_ms: int
    ) -> bool:
        """Insert a ``strategy_events`` row; return False if ``event_id`` was already there."""
        status = await self.pool.execute(
            _INSERT_EVENT,
            event_id,
            kind,
            symbol,
            ref_id,
            msgspec.json.encode(body).decode(),
            ts_ms,
        )
        return bool(status.endswith(" 1"))

    async def accept_intent(self, intent: OrderIntent, ts_ms: int) -> bool:
        """Store ``intent`` as accepted; return False if it was stored before."""
        return await self.add_event(
            f"intent:{intent.intent_id}",
            INTENT_KIND,
            intent.symbol,
            intent.intent_id,
            intent,
            ts_ms,
        )

    async def accept_with_order(
        self, intent: OrderIntent, ts_ms: int, record: OrderRecord
    ) -> tuple[bool, bool]:
        """Accept ``intent`` and insert its first order row together, if it is new.

        Return (accepted, claimed): the order row is written only with a new intent.
        """
        row = await self.pool.fetchrow(
            _ACCEPT_WITH_ORDER,
            f"intent:{intent.intent_id}",
            INTENT_KIND,
            intent.symbol,
            intent.intent_id,
            msgspec.json.encode(intent).decode(),
            ts_ms,
            *(getattr(record, name) for name in _COLUMNS),
        )
        assert row is not None
        return bool(row["accepted"]), bool(row["claimed"])

    async def refuse_intent(self, intent: OrderIntent, reason: str, ts_ms: int) -> None:
        """Store the intent and its refusal (the same intent id keeps that answer)."""
        async with self.pool.acquire() as conn, conn.transaction():
            for event_id, kind, body in (
                (f"intent:{intent.intent_id}", INTENT_KIND, msgspec.to_builtins(intent)),
                (f"refused:{intent.intent_id}", REFUSED_KIND, {"reason": reason}),
            ):
                await conn.execute(
                    _INSERT_EVENT,
                    event_id,
                    kind,
                    intent.symbol,
                    intent.intent_id,
                    msgspec.json.encode(body).decode(),
                    ts_ms,
                )

    async def intent(self, intent_id: str) -> tuple[OrderIntent, int] | None:
        """Return the stored intent and when it was accepted, or None."""
        row = await self.pool.fetchrow(
            "SELECT body::text AS body, ts_ms FROM strategy_events WHERE event_id = $1",
            f"intent:{intent_id}",
        )
        return None if row is None else (_INTENT.decode(row["body"]), int(row["ts_ms"]))

    async def refusal(self, intent_id: str) -> str | None:
        """Return why the intent was refused, or None if it was not."""
        body = await self.pool.fetchval(
            "SELECT body->>'reason' FROM strategy_events WHERE event_id = $1",
            f"refused:{intent_id}",
        )
        return None if body is None else str(body)

    async def order(self, client_order_id: str) -> OrderRecord | None:
        """Return one order row, or None."""
        row = await self.pool.fetchrow(
            f"SELECT {', '.join(_COLUMNS)} FROM orders WHERE client_order_id = $1",
            client_order_id,
        )
        return None if row is None else _record(row)

    async def orders_of(self, intent_id: str) -> list[OrderRecord]:
        """Return every order of an intent, oldest first."""
        rows = await self.pool.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM orders WHERE intent_id = $1 "
            "ORDER BY created_ts_ms, client_order_id",
            intent_id,
        )
        return [_record(row) for row in rows]

    async def open_conditionals(self, limit: int) -> list[OrderRecord]:
        """Return conditional legs that may have triggered: open, or done with nothing filled.

        (A leg refreshed without its executing order reads FILLED with 0 filled.)
        """
        rows = await self.pool.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM orders "
            "WHERE order_type IN ('STOP_MARKET', 'TAKE_PROFIT_MARKET') AND (status IN "
            "('NEW', 'PARTIALLY_FILLED') OR (status = 'FILLED' AND filled_qty = 0)) "
            "ORDER BY updated_ts_ms LIMIT $1",
            limit,
        )
        return [_record(row) for row in rows]

    async def insert_order(self, record: OrderRecord) -> bool:
        """Insert a new order row; return False if its client order id exists already."""
        values = [getattr(record, name) for name in _COLUMNS]
        return bool((await self.pool.execute(_INSERT_ORDER, *values)).endswith(" 1"))

    async def update_order(self, record: OrderRecord) -> None:
        """Write a row's state (status, fill progress, venue id, message, time)."""
        await self.pool.execute(
            _UPDATE_ORDER,
            record.client_order_id,
            record.status,
            record.filled_qty,
            record.avg_price,
            record.venue_order_id,
            record.message,
            record.updated_ts_ms,
            record.price,
            record.trigger_price,
        )

    async def insert_fills(self, fills: list[Fill]) -> None:
        """Insert fills; a fill already stored is left as it is."""
        if not fills:
            return
        await self.pool.executemany(
            _INSERT_FILL,
            [
                (
                    fill.trade_id,
                    fill.symbol,
                    fill.client_order_id,
                    fill.intent_id,
                    fill.side,
                    fill.price,
                    fill.qty,
                    fill.fee,
                    fill.fee_asset,
                    fill.is_maker,
                    fill.mid_at_send,
                    msgspec.json.encode(fill.top3).decode(),
                    fill.slippage_bps,
                    fill.ts_ms,
                )
                for fill in fills
            ],
        )


__all__ = ["INTENT_KIND", "OPEN_STATES", "REFUSED_KIND", "OrderRecord", "OrderStore"]
