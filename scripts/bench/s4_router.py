"""S4 latency: an ``OrderIntent`` into ``Router.submit`` until the paper venue acknowledged it.

Runs the real router (validation, intent lock, ``strategy_events`` + ``orders`` rows, the book
snapshot, ccxt's signed REST call, fills, ``ord:{results}``) on uvloop, as the workers do, against
a throwaway redis-server and PostgreSQL (the test harness's) and the paper venue with the trading
plugin (latency model off) in its own process, as in the Procfile (``--in-process-venue``: in
the bench's event loop instead). MARKET intents alternate buy / sell so the position stays flat.
Reported per market:

- ``ack``: from ``submit`` to ccxt's ``create_order`` returning (the venue acknowledged);
- ``submit``: the whole call, including fills (futures fills need a ``userTrades`` call) and rows;
- ``decision→ack`` (``--through-stream``): the intent XADDed to ``ord:{intents}`` as S3's emit
  does, consumed by a ``Worker`` running the root topology's ``s4-intents`` binding in this
  process, until the venue acknowledged the order — the issue's "decision → order acknowledged".

A task stands in for S1 and publishes a ``BookEvent`` every 100 ms on the market stream, so
``mid_at_send`` comes from Redis as in production (``--venue-book`` reads the venue's depth
instead). Not a test.

``--cpu-wake-latency-us 0`` holds the PM QoS bound a worker holds with
``CHIMERA_CPU_WAKE_LATENCY_US=0`` (``chimera_workers.cpu_wake``) for the run: it is system-wide,
so the venue, Redis and PostgreSQL processes wake quickly too, as on a host tuned for latency.

    .venv/bin/python scripts/bench/s4_router.py [--intents 1000] [--venue-book] [--in-process-venue]
        [--through-stream] [--pause-ms MS] [--cpu-wake-latency-us US]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chimera import names  # noqa: E402
from chimera.config.router import RouterConfig  # noqa: E402
from chimera.domain.market import BookEvent, MarketEvent  # noqa: E402
from chimera.domain.orders import Market, OrderIntent, OrderResult  # noqa: E402
from chimera.paper.settings import PaperVenueConfig  # noqa: E402
from chimera.paper.trading.plugin import make_plugin  # noqa: E402
from chimera.paper.venue import PaperVenue  # noqa: E402
from chimera.venues.settings import VenueSettings  # noqa: E402
from chimera_workers.codec import entry_fields  # noqa: E402
from chimera_workers.connections import RedisClient, open_db_pool, open_redis  # noqa: E402
from chimera_workers.cpu_wake import bounded  # noqa: E402
from chimera_workers.keys import PAYLOAD_FIELD  # noqa: E402
from chimera_workers.migrations import upgrade  # noqa: E402
from chimera_workers.topology_loader import load_app  # noqa: E402
from chimera_workers.worker import Worker  # noqa: E402
from handlers.s4_router.router import Router  # noqa: E402
from handlers.s4_router.runtime import RouterRuntime, VenuePool, now_ms  # noqa: E402
from tests.harness.servers import PostgresProcess, RedisProcess  # noqa: E402

SIZES: dict[Market, Decimal] = {"FUT": Decimal("0.002"), "SPOT": Decimal("0.001")}
# Idle time between one intent's FILLED result and the next decision (--pause-ms): 0 keeps the
# processes warm; with a pause every hop also pays for waking an idle process (on this 2-vCPU VM
# ~1.5x the hop, docs/benchmarks.md).
pause_s = 0.0
WARMUP = 50  # intents per market not counted


async def xadd_intent(redis: RedisClient, intent: OrderIntent) -> None:
    """Publish ``intent`` on ``ord:{intents}`` as S3's emit does."""
    await redis.xadd(names.ORD_INTENTS, entry_fields(intent))  # type: ignore[arg-type]


def after_market(market: str) -> None:
    """Called after each market's run (``s4_hops.py`` prints its breakdown here)."""


class NullSink:
    """Results go to ``ord:{results}`` in production; the bench counts them only."""

    def __init__(self) -> None:
        self.count = 0

    async def publish(self, result: OrderResult) -> None:
        self.count += 1


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def publish_books(redis: RedisClient, runtime: RouterRuntime) -> None:
    """Stand in for S1: the venue's top of book on the market streams every 100 ms."""
    while True:
        for market in ("FUT", "SPOT"):
            exchange = await runtime.venues.exchange(market)  # type: ignore[arg-type]
            get = exchange.fapiPublicGetDepth if market == "FUT" else exchange.publicGetDepth
            raw = await get({"symbol": "BTCUSDT", "limit": 5})
            bids = tuple((Decimal(p), Decimal(q)) for p, q in raw["bids"][:5])
            asks = tuple((Decimal(p), Decimal(q)) for p, q in raw["asks"][:5])
            mid = (bids[0][0] + asks[0][0]) / 2
            event = BookEvent(
                kind="perp" if market == "FUT" else "spot", symbol="BTCUSDT", ts_ms=now_ms(),
                recv_ts_ms=now_ms(), update_id=0, bid=bids[0][0], bid_qty=bids[0][1],
                ask=asks[0][0], ask_qty=asks[0][1], mid=mid,
                spread_bp=(asks[0][0] - bids[0][0]) / mid * 10_000, bids=bids, asks=asks,
            )  # fmt: skip
            stream = names.mkt_stream(event.kind, "BTCUSDT")
            await redis.xadd(stream, entry_fields(MarketEvent(event)), maxlen=1000)  # type: ignore[arg-type]
        await asyncio.sleep(0.1)


async def bench_market(
    router: Router, runtime: RouterRuntime, market: Market, intents: int
) -> tuple[list[float], list[float]]:
    exchange = await runtime.venues.exchange(market)
    original = exchange.create_order
    acked: list[float] = []

    async def timed_create_order(*args: Any, **kwargs: Any) -> Any:
        order = await original(*args, **kwargs)
        acked.append(time.perf_counter())
        return order

    exchange.create_order = timed_create_order
    ack_ms: list[float] = []
    submit_ms: list[float] = []
    run = f"{int(time.time())}"
    try:
        for n in range(intents + WARMUP):
            intent = OrderIntent(
                intent_id=f"bench-{run}-{market}-{n}", market=market, symbol="BTCUSDT",
                side="buy" if n % 2 == 0 else "sell", qty=SIZES[market],
            )  # fmt: skip
            started = time.perf_counter()
            outcome = await router.submit(intent)
            finished = time.perf_counter()
            if outcome.results[-1].status != "FILLED":
                raise RuntimeError(f"intent {n} ended {outcome.results[-1]}")
            if n >= WARMUP:  # warm-up
                ack_ms.append((acked[-1] - started) * 1000)
                submit_ms.append((finished - started) * 1000)
    finally:
        exchange.create_order = original
    return ack_ms, submit_ms


async def bench_through_stream(
    redis: RedisClient, redis_url: str, pool: Any, base_url: str, market: Market, intents: int
) -> list[float]:
    """Time intents from their XADD on ``ord:{intents}`` until the venue acknowledged them."""
    app = load_app(ROOT / "streams.yaml")
    # The worker's resources (the S5 start-up gate among them) reach Redis by its URL.
    environ = {
        "CHIMERA_VENUE": "paper",
        "CHIMERA_PAPER_URL": base_url,
        "CHIMERA_REDIS_URL": redis_url,
    }
    worker = Worker(
        app, redis, consumer="bench", bindings=["s4-intents"], schedules=[], db=pool,
        retention=False, environ=environ,
    )  # fmt: skip
    await worker.start()
    try:
        runtime = worker.extra["s4_router"]
        exchange = await runtime.venues.exchange(market)
        original = exchange.create_order
        acked: dict[str, float] = {}
        ack_event = asyncio.Event()

        async def timed_create_order(*args: Any, **kwargs: Any) -> Any:
            order = await original(*args, **kwargs)
            acked[order["clientOrderId"].rpartition(".")[0]] = time.perf_counter()
            ack_event.set()
            return order

        exchange.create_order = timed_create_order
        run = f"{int(time.time())}"
        latencies: list[float] = []
        last_result = "$"
        for n in range(intents + WARMUP):
            intent_id = f"sb-{run}-{market}-{n}"
            intent = OrderIntent(
                intent_id=intent_id, market=market, symbol="BTCUSDT",
                side="buy" if n % 2 == 0 else "sell", qty=SIZES[market],
            )  # fmt: skip
            ack_event.clear()
            started = time.perf_counter()
            await xadd_intent(redis, intent)
            await asyncio.wait_for(ack_event.wait(), 30)
            if n >= WARMUP:
                latencies.append((acked[intent_id] - started) * 1000)
            # Wait for the FILLED result (read from where the last wait ended, never the whole
            # stream): the next decision must not queue behind this one's fills and commit.
            filled = False
            while not filled:
                reply = await redis.xread({names.ORD_RESULTS: last_result}, block=1000)
                for _, entries in reply:
                    for entry_id, fields in entries:
                        last_result = entry_id
                        payload = fields[PAYLOAD_FIELD]
                        filled = filled or (
                            b'"FILLED"' in payload and intent_id.encode() in payload
                        )
            await asyncio.sleep(pause_s)
        return latencies
    finally:
        await worker.stop()


@contextlib.asynccontextmanager
async def paper_venue(state_dir: Path, in_process: bool) -> Any:
    """Yield the base URL of a paper venue with the trading plugin."""
    if in_process:
        config = PaperVenueConfig(port=0, seed=1, warmup_ms=60_000, state_dir=str(state_dir))
        venue = PaperVenue(config, make_plugin)
        await venue.start()
        try:
            yield venue.base_url
        finally:
            await venue.stop()
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(ROOT / ".venv" / "bin" / "chimera"), "venue", "serve", "--port", str(port),
               "--seed", "1", "--warmup-ms", "60000", "--state-dir", str(state_dir)]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def run(intents: int, venue_book: bool, in_process_venue: bool, stream: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="s4-bench-") as tmp:
        async with paper_venue(Path(tmp) / "venue", in_process_venue) as base_url:
            await run_on(Path(tmp), base_url, intents, venue_book, stream)


async def run_on(tmp: Path, base_url: str, intents: int, venue_book: bool, stream: bool) -> None:
    redis_server = RedisProcess(tmp / "redis").start()
    postgres = PostgresProcess(tmp / "pg").start()
    redis = await open_redis(redis_server.url)
    pool = await open_db_pool(postgres.url())
    runtime = RouterRuntime(VenuePool(VenueSettings(mode="paper", paper_url=base_url)))
    books: asyncio.Task[None] | None = None
    try:
        await upgrade(pool, ROOT / "migrations")
        router = Router(
            redis=redis, db=pool, runtime=runtime, config=RouterConfig(), sink=NullSink()
        )
        if not venue_book:
            books = asyncio.create_task(publish_books(redis, runtime))
            await asyncio.sleep(0.3)
        for market in ("FUT", "SPOT"):
            if stream:
                e2e = await bench_through_stream(
                    redis, redis_server.url, pool, base_url, market, intents
                )  # type: ignore[arg-type]
                series = [("decision→ack", e2e)]
            else:
                ack, submit = await bench_market(router, runtime, market, intents)  # type: ignore[arg-type]
                series = [("ack", ack), ("submit", submit)]
            for name, values in series:
                print(
                    f"{market:4s} {name:12s} n={len(values)} p50={pct(values, 0.5):.3f} ms "
                    f"p99={pct(values, 0.99):.3f} ms mean={statistics.fmean(values):.3f} ms",
                    flush=True,
                )
            after_market(market)
    finally:
        if books is not None:
            books.cancel()
            # Seen once: a cancel that landed inside ccxt's request was lost and the task slept
            # on; the stand-in for S1 must not hang the exit (the results are printed).
            await asyncio.wait({books}, timeout=5)
        await runtime.close()
        await pool.close()
        await redis.aclose()
        postgres.stop()
        redis_server.stop()


def add_wake_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpu-wake-latency-us", type=int, default=None,
        help="hold this PM QoS CPU wake-latency bound during the run (default: none)",
    )  # fmt: skip


@contextlib.contextmanager
def cpu_wake(args: argparse.Namespace) -> Iterator[None]:
    """Hold ``--cpu-wake-latency-us`` for the run; a bench asked for it must not run without."""
    with bounded(args.cpu_wake_latency_us) as bound:
        if bound is not None and not bound.held:
            sys.exit(f"--cpu-wake-latency-us: the bound could not be applied ({bound.device})")
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--intents", type=int, default=1000)
    parser.add_argument("--venue-book", action="store_true", help="read the venue's depth")
    parser.add_argument("--in-process-venue", action="store_true", help="venue in this loop")
    parser.add_argument(
        "--through-stream", action="store_true", help="intents via ord:{intents} and a Worker"
    )
    parser.add_argument(
        "--pause-ms", type=float, default=0.0, help="idle time between intents (--through-stream)"
    )
    add_wake_option(parser)
    args = parser.parse_args()
    global pause_s
    pause_s = args.pause_ms / 1000
    with cpu_wake(args):
        uvloop.run(run(args.intents, args.venue_book, args.in_process_venue, args.through_stream))


if __name__ == "__main__":
    main()
