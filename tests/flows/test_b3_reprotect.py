"""S6 keeps every open position covered by a stop, and exits when the market is through it.

On the frozen paper market of ``test_b3_manage``: a FUT entry through S3 → S4 → S6, then its
stop-loss disappears (cancelled by hand — the same state a stop that filled in part and expired
leaves). The next manage pass places a new stop at the entry's first-stop price covering what is
open; if the market is already through that price, the venue refuses the stop and S6 closes the
position at market instead, with a CRITICAL alert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.domain.orders import OrderIntent
from chimera.domain.positions import PositionEvent
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from handlers.s4_router.ids import LEG_MARKET, client_order_id
from handlers.s4_router.router import CancelRequest, Router
from handlers.s4_router.runtime import now_ms
from handlers.s4_router.store import OrderRecord
from handlers.s6_positions.tick import manage_positions
from tests.chimera.paper.venue_fixtures import ccxt_exchange, print_trade
from tests.flows.support import FlowRig, flow_rig, paper_router, stream_payloads
from tests.flows.test_b3_manage import FROZEN, TICK, orders_of, publish_mark
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(180)


def reprotect_bundle() -> ConfigBundle:
    raw = msgspec.to_builtins(bundle(sizing={"notional_usdt": "600"}))
    raw["positions"]["manage"] = {"reprotect_after_ms": 1, "take_profit_ladder": []}
    # A lost order is re-sent as soon as the venue is found not to have it (no 11 s wait).
    raw["router"]["unknown_resend_after_ms"] = 0
    return msgspec.convert(raw, ConfigBundle)


@pytest.fixture
async def rig(tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool) -> AsyncIterator[FlowRig]:
    bindings = ["s3-decide", "s4-intents", "s6-entry"]
    async with flow_rig(
        tmp_path,
        rclient,
        pool,
        reprotect_bundle(),
        bindings,
        schedules=["s4-conditionals"],
        venue_overrides=FROZEN,
    ) as running:
        yield running


@pytest.fixture
async def router(rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool) -> AsyncIterator[Router]:
    async with paper_router(rig.venue, rclient, pool, reprotect_bundle()) as running:
        yield running


async def _entry_without_its_stop(
    rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool, router: Router
) -> tuple[str, Decimal, Decimal]:
    """Open an entry, wait for its SL/TP, cancel the SL; return (pos_id, qty, first stop)."""
    mid = (await rig.mid()).quantize(TICK)
    event = snapshot("BTCUSDT", t0=T0, price=str(mid))
    pos_id = f"{event.signal_id}:entry"
    await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

    async def protected() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM orders WHERE pos_id = $1 AND status = 'NEW'", pos_id
        )
        return int(n) == 2

    await until(protected, 60, "the entry's SL and TP live at the venue")
    await router.cancel(CancelRequest(intent_id=f"{pos_id}:sl", reason="by hand"))
    rows = await orders_of(pool, pos_id)
    assert rows[f"{pos_id}:sl"]["status"] == "CANCELED"
    return pos_id, rows[pos_id]["filled_qty"], rows[f"{pos_id}:sl"]["trigger_price"]


async def test_a_position_left_without_a_stop_gets_one_at_its_first_stop_price(
    rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool, router: Router
) -> None:
    config = reprotect_bundle()
    pos_id, qty, first_stop = await _entry_without_its_stop(rig, rclient, pool, router)
    entry_price = (await orders_of(pool, pos_id))[pos_id]["avg_price"]
    await publish_mark(rclient, entry_price)
    snaps, _ = await manage_positions(router, pool, config, rig.rev, "TICK")
    rows = await orders_of(pool, pos_id)
    [new] = [k for k in rows if k.startswith(f"{pos_id}:sl@0.")]
    assert (rows[new]["status"], rows[new]["trigger_price"], rows[new]["qty"]) == (
        "NEW",
        first_stop,
        qty,
    )
    assert rows[new]["reduce_only"] and rows[new]["order_type"] == "STOP_MARKET"
    assert "STOP_RAISED level=0" in snaps[0].reason
    # Covered again: another pass sends nothing.
    before = len(rows)
    await manage_positions(router, pool, config, rig.rev, "TICK")
    assert len(await orders_of(pool, pos_id)) == before


async def test_a_stop_the_market_is_already_through_becomes_a_market_exit(
    rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool, router: Router
) -> None:
    config = reprotect_bundle()
    pos_id, qty, first_stop = await _entry_without_its_stop(rig, rclient, pool, router)
    below = first_stop - 10
    print_trade(rig.venue, below, kind="perp")  # no stop left to trigger
    await publish_mark(rclient, below)
    snaps, _ = await manage_positions(router, pool, config, rig.rev, "TICK")
    assert "WOULD_TRIGGER_NOW" in snaps[0].reason and "EXIT at market" in snaps[0].reason
    rows = await orders_of(pool, pos_id)
    [exit_id] = [k for k in rows if k.startswith(f"{pos_id}:sx.")]
    assert rows[exit_id]["status"] == "FILLED" and rows[exit_id]["filled_qty"] == qty
    assert rows[exit_id]["purpose"] == "EXIT" and rows[exit_id]["reduce_only"]
    alert = await pool.fetchrow(
        "SELECT * FROM alerts WHERE kind = 'S6_STOP_BREACHED' AND ref_id = $1", pos_id
    )
    assert alert is not None and alert["severity"] == "CRITICAL"

    async def exited() -> bool:
        found = await stream_payloads(
            rclient, names.POS_EVENTS, msgspec.json.Decoder(PositionEvent)
        )
        return any(e.kind == "EXIT" and e.pos_id == pos_id for e in found)

    await until(exited, 30, "S6 settles the position it closed")
    assert (await orders_of(pool, pos_id))[f"{pos_id}:tp"]["status"] == "CANCELED"


async def test_an_order_s6_sent_but_never_saw_answered_is_finished_not_doubled(
    rig: FlowRig, rclient: RedisClient, pool: asyncpg.Pool, router: Router
) -> None:
    config = reprotect_bundle()
    pos_id, _qty, _ = await _entry_without_its_stop(rig, rclient, pool, router)
    # What S4 leaves when the process dies between claiming the order and the venue call.
    stuck = OrderIntent(
        intent_id=f"{pos_id}:ptp@0", market="FUT", symbol="BTCUSDT", side="sell",
        qty=Decimal("0.001"), purpose="REDUCE", reduce_only=True, pos_id=pos_id,
    )  # fmt: skip
    await router.store.accept_intent(stuck, now_ms())
    coid = client_order_id(stuck.intent_id, LEG_MARKET)
    await router.store.insert_order(
        OrderRecord(
            client_order_id=coid,
            intent_id=stuck.intent_id,
            market="FUT",
            symbol="BTCUSDT",
            side="sell",
            order_type="MARKET",
            purpose="REDUCE",
            status="PENDING",
            qty=stuck.qty,
            created_ts_ms=now_ms(),
            updated_ts_ms=now_ms(),
            reduce_only=True,
            pos_id=pos_id,
        )
    )
    entry_price = (await orders_of(pool, pos_id))[pos_id]["avg_price"]
    await publish_mark(rclient, entry_price)
    snaps, _ = await manage_positions(router, pool, config, rig.rev, "TICK")
    assert f"RESOLVED {stuck.intent_id}" in snaps[0].reason
    row = await pool.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", coid)
    assert (row["status"], row["filled_qty"]) == ("FILLED", stuck.qty)
    async with ccxt_exchange(rig.venue, "perp") as exchange:
        trades = await exchange.fetch_my_trades("BTC/USDT:USDT")  # type: ignore[attr-defined]
    sells = [t for t in trades if t["side"] == "sell"]
    assert sum(Decimal(str(t["amount"])) for t in sells) == stuck.qty  # sent once
    # Finished: another pass has nothing to resolve.
    snaps, _ = await manage_positions(router, pool, config, rig.rev, "TICK")
    assert "RESOLVED" not in snaps[0].reason
