"""S5 full reconcile (scope ALL) of 500 open orders and 50 positions: the issue's "< 1 s".

Builds the state a busy account has, then times ``Reconciler.run("ALL")`` — the code the
``s5-reconcile`` schedule runs: per market and symbol the venue's open orders (regular and
conditional) against the DB's open ``orders`` rows, then the FUT positions (venue net vs the DB's
positions) and the protection check — against a throwaway redis-server and PostgreSQL (the test
harness's) and the paper venue with the trading plugin in this process, its market frozen after
the warm-up (speed ~0) so it does not share the event loop with the run being timed.

State: 50 FUT positions opened through S4 (market entries on BTC/ETH/SOL, each with its
reduce-only STOP_MARKET and TAKE_PROFIT_MARKET placed through S4: 100 conditional orders), and
400 resting LIMIT orders (spot and futures, far from the market) placed with ccxt and recorded
as S4 records its orders — 500 open orders that agree, so the run does its full comparison and
finds nothing to fix (the steady state). Not a test.

    .venv/bin/python scripts/bench/s5_reconcile.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chimera.config.bundle import load_bundle  # noqa: E402
from chimera.config.reconcile import ReconcileConfig  # noqa: E402
from chimera.domain.orders import Market, OrderIntent  # noqa: E402
from chimera.paper.settings import PaperVenueConfig  # noqa: E402
from chimera.paper.trading.plugin import make_plugin  # noqa: E402
from chimera.paper.venue import PaperVenue  # noqa: E402
from chimera.venues.settings import VenueSettings  # noqa: E402
from chimera_workers.connections import open_db_pool, open_redis  # noqa: E402
from chimera_workers.migrations import upgrade  # noqa: E402
from handlers.s4_router.handlers import RedisSink  # noqa: E402
from handlers.s4_router.router import Router  # noqa: E402
from handlers.s4_router.runtime import RouterRuntime, VenuePool, ccxt_symbol, now_ms  # noqa: E402
from handlers.s4_router.store import OrderRecord, OrderStore  # noqa: E402
from handlers.s5_reconciler.reconciler import Reconciler  # noqa: E402
from tests.harness.servers import PostgresProcess, RedisProcess  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
QTY = {"BTCUSDT": Decimal("0.002"), "ETHUSDT": Decimal("0.05"), "SOLUSDT": Decimal("1")}


async def open_positions(router: Router, count: int) -> None:
    """Open ``count`` FUT longs through S4, each with its SL and TP through S4."""
    for i in range(count):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        pos = f"bench{i}:entry"
        entry = OrderIntent(
            intent_id=pos, market="FUT", symbol=symbol, side="buy", qty=QTY[symbol],
            signal_id=f"bench{i}",
        )  # fmt: skip
        outcome = await router.submit(entry)
        price = outcome.results[-1].avg_price
        assert price is not None, outcome
        for leg, exec_style, factor in (
            ("sl", "STOP_MARKET", Decimal("0.9")),
            ("tp", "TAKE_PROFIT_MARKET", Decimal("1.1")),
        ):
            await router.submit(
                OrderIntent(
                    intent_id=f"{pos}:{leg}",
                    market="FUT",
                    symbol=symbol,
                    side="sell",
                    qty=QTY[symbol],
                    exec=exec_style,
                    purpose=leg.upper(),  # type: ignore[arg-type]
                    reduce_only=True,
                    trigger_price=(price * factor).quantize(Decimal("0.01")),
                    pos_id=pos,
                )
            )


async def resting_orders(router: Router, store: OrderStore, count: int) -> None:
    """Place ``count`` far-from-market LIMIT buys at the venue and record them as S4 does."""
    for i in range(count):
        market: Market = "FUT" if i % 2 else "SPOT"
        symbol = SYMBOLS[i % len(SYMBOLS)]
        exchange: Any = await router.runtime.venues.exchange(market)
        unified = ccxt_symbol(exchange, market, symbol)
        book = await exchange.fetch_order_book(unified, 5)
        price = Decimal(str(book["bids"][0][0])) * Decimal("0.7")
        price = Decimal(exchange.price_to_precision(unified, price))
        qty = QTY[symbol] * 2
        coid = f"rest{i}.mm"
        params = {"newClientOrderId": coid}
        placed = await exchange.create_order(
            unified, "limit", "buy", float(qty), float(price), params
        )
        ts = now_ms()
        await store.insert_order(
            OrderRecord(
                client_order_id=coid,
                intent_id=f"rest{i}",
                market=market,
                symbol=symbol,
                side="buy",
                order_type="LIMIT",
                purpose="ENTRY",
                status="NEW",
                qty=qty,
                created_ts_ms=ts,
                updated_ts_ms=ts,
                price=price,
                venue_order_id=str(placed["id"]),
            )
        )


async def run(runs: int, positions: int, resting: int) -> None:
    with tempfile.TemporaryDirectory(prefix="s5-bench-") as tmp_name:
        tmp = Path(tmp_name)
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
            await open_positions(router, positions)
            await resting_orders(router, router.store, resting)
            await pool.execute("ANALYZE orders")
            # quiet_ms 0: the orders were just placed; the steady state has no recent activity.
            reconcile = ReconcileConfig(quiet_ms=0, protect_grace_ms=0)
            reconciler = Reconciler(router, reconcile, SYMBOLS, bundle.positions)
            report = await reconciler.run("ALL")  # warm-up: connections, markets
            timings: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                report = await reconciler.run("ALL")
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"reconcile ALL: {report.venue_open} venue open orders, {report.db_open} in the DB,"
                f" agreement {report.jaccard:.3f}, {len(report.actions)} actions, ok={report.ok},"
                f" {positions} positions; {runs} runs"
            )
            print(
                f"  p50 {statistics.median(timings):.0f} ms   max {max(timings):.0f} ms   "
                "(target < 1000 ms)"
            )
        finally:
            await runtime.close()
            await redis.aclose()
            await pool.close()
            redis_server.stop()
            postgres.stop()
            await venue.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--resting", type=int, default=400)
    args = parser.parse_args()
    uvloop.run(run(args.runs, args.positions, args.resting))


if __name__ == "__main__":
    main()
