"""Survival: SIGKILL the S3, S4 and S6 workers at random moments through a run of B1/B3 flows.

Real processes (``chimera worker`` on the root ``streams.yaml``, one per Procfile line: S3's
decisions, S4's intents + conditional legs, S6's results + manage tick), the paper venue with a
moving synthetic market, and a stand-in for S1 publishing the venue's book as the perp mark.
Entries arrive every ~1.2 s with a small ATR, so stops, take-profits and ladder steps happen
within seconds. While it runs, a random worker is SIGKILLed every few seconds and restarted
under the same consumer name (the Procfile slot's).

After the last kill and a quiet period, the invariants of ``tests.flows.invariants`` hold (no
double orders, the DB equals the venue, venue positions equal the DB's fills, the B7 counters
equal the open positions' reservations), every open position is protected by stops covering it,
and S5's reconcile finds nothing to fix.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.config import store
from chimera.config.bundle import ConfigBundle
from chimera.config.reconcile import ReconcileConfig
from chimera.domain.market import BookEvent, MarketEvent
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from handlers.s5_reconciler.reconciler import Reconciler
from handlers.s6_positions.position import open_positions, open_protective_orders
from tests.chimera.paper.venue_fixtures import running_venue, venue_config
from tests.flows.invariants import settled
from tests.flows.support import ROOT, paper_router
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(300)

WORKERS = {
    "s3": ["--binding", "s3-decide", "--no-schedules"],
    "s4": ["--binding", "s4-intents", "--schedule", "s4-conditionals", "--schedule", "s4-twap"],
    "s6": ["--binding", "s6-entry", "--schedule", "s6-manage"],
}
RUN_S = 30.0
ENTRY_EVERY_S = 1.2
KILL_EVERY_S = (2.0, 4.0)
SEED = 20261202
MIN_ENTRIES = 3
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def survival_bundle() -> ConfigBundle:
    raw = msgspec.to_builtins(
        bundle(
            sizing={"notional_usdt": "200"},
            # One position per symbol (the default): in one-way mode a symbol's Chimera position
            # is then the venue's, so no stop reaches into another one (docs/s6-positions.md).
            risk={"max_concurrent_per_symbol": 1, "fut_margin_cap_usdt": "2000"},
        )
    )
    raw["positions"]["manage"] = {
        "stop_ladder": [["0.5", "-0.5"], ["1", "0"], ["2", "1"]],
        "take_profit_ladder": [["0.8", "0.3"]],
        "add_ons": {"max_adds": 1, "at_r": ["1.2"], "size_fraction": "0.5"},
    }
    return msgspec.convert(raw, ConfigBundle)


class Fleet:
    """The worker processes, one per Procfile slot, restartable under the same consumer name."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, slot: str) -> None:
        args = [sys.executable, "-m", "chimera_workers.cli", "worker",
                "--streams", str(ROOT / "streams.yaml"), "--consumer", f"{slot}.1",
                "--grace", "5", *WORKERS[slot]]  # fmt: skip
        with self.log.open("ab") as out:
            self.procs[slot] = subprocess.Popen(
                args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self, slot: str) -> None:
        proc = self.procs[slot]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def reconcile_every(
    venue: PaperVenue, redis: RedisClient, pool: asyncpg.Pool, config: ConfigBundle, every_s: float
) -> None:
    """Stand in for S5's schedule (its interval cut): ALL passes, which reopen the entry gate
    each worker restart closes."""
    async with paper_router(venue, redis, pool, config) as router:
        reconciler = Reconciler(router, config.reconcile, SYMBOLS, config.positions)
        while True:
            await reconciler.run("ALL")
            await asyncio.sleep(every_s)


async def publish_marks(venue: PaperVenue, redis: RedisClient) -> None:
    """Stand in for S1: the venue's perp book tops as ``mkt:events:{perp}:<SYMBOL>``."""
    while True:
        for symbol in SYMBOLS:
            book = venue.hub.book("perp", symbol)
            bid, ask = book.best_bid(), book.best_ask()
            if bid is None or ask is None:
                continue
            now = venue.hub.clock.now_ms()
            event = BookEvent(
                kind="perp", symbol=symbol, ts_ms=now, recv_ts_ms=now, update_id=1,
                bid=bid[0], bid_qty=bid[1], ask=ask[0], ask_qty=ask[1], mid=(bid[0] + ask[0]) / 2,
                spread_bp=Decimal(0), bids=(), asks=(),
            )  # fmt: skip
            stream = names.mkt_stream("perp", symbol)
            await redis.xadd(stream, entry_fields(MarketEvent(event)), maxlen=1000)  # type: ignore[arg-type]
        await asyncio.sleep(0.2)


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[PaperVenue]:
    settings = venue_config(state_dir=str(tmp_path / "venue"))
    async with running_venue(settings, make_plugin) as running:
        yield running


async def test_sigkilled_workers_leave_every_position_protected_and_nothing_doubled(
    tmp_path: Path,
    venue: PaperVenue,
    rclient: RedisClient,
    pool: asyncpg.Pool,
    redis_url: str,
    db_url: str,
) -> None:
    config = survival_bundle()
    rev = await store.insert_bundle(pool, config, name="survival")
    await store.activate(pool, rclient, rev, by="survival-test")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_DATABASE_URL": db_url,
        "CHIMERA_VENUE": "paper",
        "CHIMERA_PAPER_URL": venue.base_url,
        "CHIMERA_LOG_LEVEL": "WARNING",
    }
    decisions = "SELECT decision->>'reason' AS reason, count(*) FROM signals GROUP BY 1"
    fleet = Fleet(env, tmp_path / "workers.log")
    marks = asyncio.create_task(publish_marks(venue, rclient))
    s5 = asyncio.create_task(reconcile_every(venue, rclient, pool, config, 2.0))
    rng = random.Random(SEED)
    kills = 0
    try:
        for slot in WORKERS:
            fleet.start(slot)
        loop = asyncio.get_running_loop()
        started = loop.time()
        next_entry, next_kill = started, started + rng.uniform(*KILL_EVERY_S)
        t0 = T0
        round_robin = 0
        entries_sql = "SELECT count(*) FROM orders WHERE purpose = 'ENTRY'"

        async def running() -> bool:
            # RUN_S, stretched (up to 3x) on a loaded machine until entries made it through the
            # start-up gate each restart closes: the scenario needs positions to protect.
            elapsed = loop.time() - started
            if elapsed < RUN_S:
                return True
            return elapsed < 3 * RUN_S and await pool.fetchval(entries_sql) < MIN_ENTRIES

        while await running():
            now = loop.time()
            if now >= next_entry:
                symbol = SYMBOLS[round_robin % len(SYMBOLS)]
                round_robin += 1
                book = venue.hub.book("perp", symbol)
                mid = ((book.best_bid()[0] + book.best_ask()[0]) / 2).quantize(Decimal("0.1"))  # type: ignore[index]
                # ATR ≈ 0.02 % of the price: R ≈ 0.03 %, so the market reaches stops and steps.
                event = snapshot(symbol, t0=t0, price=str(mid), atr=float(mid) * 0.0002)
                await rclient.xadd(names.feat_stream(symbol), entry_fields(event))  # type: ignore[arg-type]
                t0 += 60_000
                next_entry = now + ENTRY_EVERY_S
            if now >= next_kill:
                slot = rng.choice(sorted(WORKERS))
                fleet.kill(slot)
                kills += 1
                await asyncio.sleep(rng.uniform(0.1, 0.8))
                fleet.start(slot)
                next_kill = loop.time() + rng.uniform(*KILL_EVERY_S)
            await asyncio.sleep(0.05)

        # Quiet: no new entries, no kills; everything delivered, every position protected.
        async def drained() -> bool:
            for group_stream in (names.ORD_INTENTS, names.ORD_RESULTS):
                for group in await rclient.xinfo_groups(group_stream):
                    if group["pending"] or group.get("lag"):
                        return False
            return True

        await until(drained, 90, "ord:{intents} and ord:{results} fully processed")
        await settled(venue, rclient, pool, within=60)

        async def unprotected() -> list[str]:
            found = []
            for position in await open_positions(pool):
                stops = [
                    o
                    for o in await open_protective_orders(pool, position.pos_id)
                    if o.purpose == "SL" and o.status == "NEW"
                ]
                if sum((o.qty for o in stops), Decimal(0)) < position.open_qty:
                    rows = await pool.fetch(
                        "SELECT intent_id, purpose, status, qty, filled_qty FROM orders "
                        "WHERE intent_id = $1 OR pos_id = $1",
                        position.pos_id,
                    )
                    found.append(f"{position} {[tuple(r) for r in rows]}")
            return found

        async def protected() -> bool:
            return not await unprotected()

        try:
            await until(protected, 30, "every open position covered by its stops")
        except AssertionError:
            raise AssertionError("\n".join(await unprotected())) from None
        s5.cancel()  # the final pass below must not meet a running one (the positions lock)
        await asyncio.gather(s5, return_exceptions=True)
        entries = await pool.fetchval(entries_sql)
        reasons = {r["reason"]: r["count"] for r in await pool.fetch(decisions)}
        stuck = await pool.fetch(
            "SELECT client_order_id, intent_id, pos_id, purpose, order_type, status, qty, "
            "filled_qty, created_ts_ms, updated_ts_ms FROM orders WHERE status IN "
            "('PENDING', 'UNKNOWN') OR (status IN ('NEW', 'PARTIALLY_FILLED') "
            "AND order_type NOT IN ('STOP_MARKET', 'TAKE_PROFIT_MARKET'))"
        )
        assert kills >= 5 and entries >= MIN_ENTRIES, (
            kills,
            entries,
            reasons,
            [tuple(r) for r in stuck],
        )

        async with paper_router(venue, rclient, pool, config) as router:
            reconciler = Reconciler(
                router, ReconcileConfig(markets=("FUT",)), SYMBOLS, config.positions
            )
            report = await reconciler.run("ALL")
        assert report.ok and report.jaccard == 1.0 and not report.actions, report
    finally:
        for task in (marks, s5):
            task.cancel()
        # Awaited, so the stand-ins close their venue clients before the loop ends.
        await asyncio.gather(marks, s5, return_exceptions=True)
        fleet.stop_all()
