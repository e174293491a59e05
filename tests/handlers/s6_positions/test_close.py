"""B7 step 2: a closing fill that leaves its position flat settles it once (release, EXIT)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.domain.orders import OrderResult
from chimera.domain.positions import PositionEvent
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s4_router.store import OrderRecord, OrderStore
from tests.handlers.s6_positions.support import (
    CONFIG,
    ENTRY,
    SIGNAL,
    Deliverer,
    entry_intent,
    make_app,
)


def row(coid: str, purpose: str, status: str, filled: str, **fields: object) -> OrderRecord:
    values: dict[str, object] = {
        "client_order_id": coid,
        "intent_id": ENTRY if purpose == "ENTRY" else f"{ENTRY}:{purpose.lower()}",
        "market": "FUT",
        "symbol": "BTCUSDT",
        "side": "buy" if purpose == "ENTRY" else "sell",
        "order_type": "MARKET" if purpose == "ENTRY" else "STOP_MARKET",
        "purpose": purpose,
        "status": status,
        "qty": Decimal("0.003"),
        "filled_qty": Decimal(filled),
        "created_ts_ms": 1,
        "updated_ts_ms": 1,
        "signal_id": SIGNAL,
        "pos_id": None if purpose == "ENTRY" else ENTRY,
    }
    values.update(fields)
    return OrderRecord(**values)  # type: ignore[arg-type]


def stop_filled(qty: str) -> OrderResult:
    return OrderResult(
        intent_id=f"{ENTRY}:sl",
        client_order_id=f"{ENTRY}:sl.cd",
        market="FUT",
        symbol="BTCUSDT",
        side="sell",
        status="FILLED",
        purpose="SL",
        qty=Decimal(qty),
        filled_qty=Decimal(qty),
        pos_id=ENTRY,
        signal_id=SIGNAL,
    )


class Closer:
    """Deliver closing results to the S6 binding; report whether the position settled."""

    def __init__(self, tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool | None) -> None:
        self.redis = rclient
        self.deliverer = Deliverer(make_app(tmp_path), rclient, db=pool)

    async def exits(self) -> list[PositionEvent]:
        entries = await self.redis.xrange(names.POS_EVENTS)
        return [msgspec.json.decode(f[PAYLOAD_FIELD], type=PositionEvent) for _, f in entries]

    async def __call__(self, event: OrderResult) -> bool:
        before = len(await self.exits())
        await self.deliverer.send(event)
        return len(await self.exits()) > before


@pytest.fixture
def closes(tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool) -> Closer:
    return Closer(tmp_path, rclient, pool)


async def reserve(rclient: RedisClient) -> RiskLedger:
    ledger = RiskLedger(rclient)
    assert (await ledger.reserve(SIGNAL, "BTCUSDT", Decimal("30"), CONFIG.risk)).ok
    return ledger


async def write(pool: asyncpg.Pool, *records: OrderRecord) -> None:
    store = OrderStore(pool)
    for record in records:
        if not await store.insert_order(record):
            await store.update_order(record)


async def test_a_stop_that_closes_the_whole_entry_releases_once(
    rclient: RedisClient, pool: asyncpg.Pool, closes: Closer
) -> None:
    ledger = await reserve(rclient)
    await write(
        pool,
        row(f"{ENTRY}.mk", "ENTRY", "FILLED", "0.003"),
        row(f"{ENTRY}:sl.cd", "SL", "FILLED", "0.003"),
        row(f"{ENTRY}:tp.cd", "TP", "CANCELED", "0"),
    )
    assert await closes(stop_filled("0.003"))
    assert await ledger.usage("BTCUSDT") == (Decimal(0), 0)
    # A redelivery emits EXIT again (at-least-once, keyed by pos_id) but releases nothing twice.
    await closes(stop_filled("0.003"))
    assert await ledger.usage("BTCUSDT") == (Decimal(0), 0)
    closed = await pool.fetch("SELECT pos_id, qty FROM positions_snapshots WHERE status = 'CLOSED'")
    assert [(r["pos_id"], r["qty"]) for r in closed] == [(ENTRY, Decimal(0))]


async def test_a_stop_covering_part_of_the_entry_keeps_the_reservation(
    rclient: RedisClient, pool: asyncpg.Pool, closes: Closer
) -> None:
    ledger = await reserve(rclient)
    await write(
        pool,
        row(f"{ENTRY}.mm", "ENTRY", "CANCELED", "0.001"),
        row(f"{ENTRY}.mt", "ENTRY", "FILLED", "0.002"),
        row(f"{ENTRY}:mm:sl.cd", "SL", "FILLED", "0.001", intent_id=f"{ENTRY}:mm:sl"),
    )
    assert not await closes(stop_filled("0.001"))
    assert (await ledger.usage("BTCUSDT"))[1] == 1
    # The partial close is in the position's history: an EVENT snapshot of what is left.
    snap = await pool.fetchrow(
        "SELECT * FROM positions_snapshots WHERE snapshot_id = $1", f"{ENTRY}:EVENT:{ENTRY}:sl.cd"
    )
    assert (snap["status"], snap["qty"], snap["closed_qty"]) == (
        "OPEN",
        Decimal("0.002"),
        Decimal("0.001"),
    )
    await write(pool, row(f"{ENTRY}:mt:sl.cd", "SL", "FILLED", "0.002", intent_id=f"{ENTRY}:mt:sl"))
    assert await closes(stop_filled("0.002"))
    assert (await ledger.usage("BTCUSDT"))[1] == 0


async def test_a_twap_entry_with_slices_to_come_is_not_closed(
    rclient: RedisClient, pool: asyncpg.Pool, closes: Closer
) -> None:
    ledger = await reserve(rclient)
    await OrderStore(pool).accept_intent(entry_intent("TWAP", 3), 1)
    await write(
        pool,
        row(f"{ENTRY}.s0", "ENTRY", "FILLED", "0.001"),
        row(f"{ENTRY}:s0:sl.cd", "SL", "FILLED", "0.001", intent_id=f"{ENTRY}:s0:sl"),
    )
    assert not await closes(stop_filled("0.001"))
    assert (await ledger.usage("BTCUSDT"))[1] == 1


async def test_an_entry_order_still_open_is_not_closed(
    rclient: RedisClient, pool: asyncpg.Pool, closes: Closer
) -> None:
    ledger = await reserve(rclient)
    await write(
        pool,
        row(f"{ENTRY}.mm", "ENTRY", "PARTIALLY_FILLED", "0.001"),
        row(f"{ENTRY}:sl.cd", "SL", "FILLED", "0.001"),
    )
    assert not await closes(stop_filled("0.001"))
    assert (await ledger.usage("BTCUSDT"))[1] == 1


async def test_without_postgres_the_close_cannot_be_judged(
    tmp_path: Path, rclient: RedisClient
) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        await Closer(tmp_path, rclient, None)(stop_filled("0.003"))
