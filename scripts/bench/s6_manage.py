"""S6 manage tick over N open positions: the issue's "< 50 ms for 200 positions".

Runs ``handlers.s6_positions.tick.manage_positions`` — the code the ``s6-manage`` schedule runs:
the open-positions aggregate over ``orders``, the latest perp mark per symbol from Redis, one
``positionRisk`` call to the paper venue (in this process), health and kill switch, every
position's recorded state in one pipeline, and the ``positions_snapshots`` rows — against a
throwaway redis-server and PostgreSQL (the test harness's). Each position is a filled FUT entry
with its own SL/TP rows and pinned prices, as S4 and S6 leave it; the marks sit at the entries,
so a pass has nothing to send (the steady state: a pass that raises a stop adds one venue round
trip per action). ``--closed`` adds that many closed positions to the ``orders`` history the
aggregate scans. Not a test.

    .venv/bin/python scripts/bench/s6_manage.py [--positions 200] [--passes 30] [--closed 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chimera import names  # noqa: E402
from chimera.config.bundle import load_bundle  # noqa: E402
from chimera.domain.market import BookEvent, MarketEvent  # noqa: E402
from chimera.paper.settings import PaperVenueConfig  # noqa: E402
from chimera.paper.trading.plugin import make_plugin  # noqa: E402
from chimera.paper.venue import PaperVenue  # noqa: E402
from chimera.venues.settings import VenueSettings  # noqa: E402
from chimera_workers.codec import entry_fields  # noqa: E402
from chimera_workers.connections import RedisClient, open_db_pool, open_redis  # noqa: E402
from chimera_workers.migrations import upgrade  # noqa: E402
from handlers.s4_router.handlers import RedisSink  # noqa: E402
from handlers.s4_router.router import Router  # noqa: E402
from handlers.s4_router.runtime import RouterRuntime, VenuePool, now_ms  # noqa: E402
from handlers.s4_router.store import OrderRecord, OrderStore  # noqa: E402
from handlers.s6_positions.tick import manage_positions  # noqa: E402
from tests.harness.servers import PostgresProcess, RedisProcess  # noqa: E402

SYMBOLS = {
    "BTCUSDT": Decimal("50000.0"),
    "ETHUSDT": Decimal("3000.00"),
    "SOLUSDT": Decimal("150.00"),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(
    coid: str, intent: str, symbol: str, purpose: str, status: str, **kw: object
) -> OrderRecord:
    ts = now_ms()
    values: dict[str, object] = {
        "client_order_id": coid, "intent_id": intent, "market": "FUT", "symbol": symbol,
        "side": "buy" if purpose == "ENTRY" else "sell", "purpose": purpose, "status": status,
        "order_type": "MARKET" if purpose == "ENTRY" else "STOP_MARKET", "qty": Decimal("0.01"),
        "created_ts_ms": ts, "updated_ts_ms": ts,
    }  # fmt: skip
    values.update(kw)
    return OrderRecord(**values)  # type: ignore[arg-type]


async def seed(store: OrderStore, redis: RedisClient, n: int, closed: int) -> None:
    symbols = list(SYMBOLS)
    for i in range(n + closed):
        symbol = symbols[i % len(symbols)]
        price = SYMBOLS[symbol]
        pos = f"bench{i}:entry"
        qty = Decimal("0.01")
        await store.insert_order(_row(f"b{i}.mk", pos, symbol, "ENTRY", "FILLED",
                                      filled_qty=qty, avg_price=price))  # fmt: skip
        sl, tp = price * Decimal("0.99"), price * Decimal("1.02")
        for leg, trigger in (("sl", sl), ("tp", tp)):
            done = i >= n and leg == "sl"
            await store.insert_order(_row(
                f"b{i}{leg}.cd", f"{pos}:{leg}", symbol, leg.upper(),
                "FILLED" if done else ("CANCELED" if i >= n else "NEW"),
                trigger_price=trigger, reduce_only=True, pos_id=pos,
                filled_qty=qty if done else Decimal(0),
            ))  # fmt: skip
        if i < n:
            await redis.set(names.entry_protection_key(pos), f"{sl}|{tp}")


async def publish_marks(redis: RedisClient) -> None:
    for symbol, price in SYMBOLS.items():
        book = BookEvent(
            kind="perp", symbol=symbol, ts_ms=1, recv_ts_ms=1, update_id=1, bid=price, ask=price,
            bid_qty=Decimal(1), ask_qty=Decimal(1), mid=price, spread_bp=Decimal(0), bids=(),
            asks=(),
        )  # fmt: skip
        stream = names.mkt_stream("perp", symbol)
        await redis.xadd(stream, entry_fields(MarketEvent(book)))  # type: ignore[arg-type]


async def run(positions: int, passes: int, closed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="s6-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # In this process, frozen after its warm-up (speed ~0): the synthetic market would
        # otherwise share the event loop with the pass being timed (the Procfile runs it apart).
        config = PaperVenueConfig(
            port=0, seed=1, warmup_ms=60_000, speed=1e-6, state_dir=str(tmp / "venue")
        )
        venue = PaperVenue(config, make_plugin)
        await venue.start()
        redis_server = RedisProcess(tmp / "redis").start()
        postgres = PostgresProcess(tmp / "pg").start()
        redis = await open_redis(redis_server.url)
        pool = await open_db_pool(postgres.url())
        runtime = RouterRuntime(VenuePool(VenueSettings(mode="paper", paper_url=venue.base_url)))
        try:
            await upgrade(pool, ROOT / "migrations")
            bundle = load_bundle(ROOT / "config" / "bundle.yaml")
            router = Router(
                redis=redis, db=pool, runtime=runtime, config=bundle.router, sink=RedisSink(redis)
            )
            await seed(OrderStore(pool), redis, positions, closed)
            # What autovacuum does within a minute of such inserts in production; without
            # statistics the planner scans ``orders`` instead of using its intent/pos indexes.
            await pool.execute("ANALYZE orders")
            await publish_marks(redis)
            await manage_positions(router, pool, bundle, 0, "TICK")  # warm-up (connections)
            timings: list[float] = []
            for _ in range(passes):
                started = time.perf_counter()
                snapshots, events = await manage_positions(router, pool, bundle, 0, "TICK")
                timings.append((time.perf_counter() - started) * 1000)
                assert len(snapshots) == positions and not events, (len(snapshots), events)
            rows = await pool.fetchval("SELECT count(*) FROM positions_snapshots")
            print(f"manage pass over {positions} open positions ({closed} closed in history), "
                  f"{passes} passes, {rows} snapshot rows written")  # fmt: skip
            print(f"  p50 {statistics.median(timings):.1f} ms   p95 {pct(timings, 0.95):.1f} ms   "
                  f"max {max(timings):.1f} ms   (target < 50 ms)")  # fmt: skip
        finally:
            await runtime.close()
            await redis.aclose()
            await pool.close()
            redis_server.stop()
            postgres.stop()
            await venue.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--passes", type=int, default=30)
    parser.add_argument("--closed", type=int, default=2000)
    args = parser.parse_args()
    uvloop.run(run(args.positions, args.passes, args.closed))


if __name__ == "__main__":
    main()
