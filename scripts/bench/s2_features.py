"""Measure S2: ATR/NATR batch ns/bar against TA-Lib, incremental µs per update, handler events/s.

1. Batch: ``chimera.features.atr/natr`` vs ``talib.ATR/NATR`` on the same arrays (the recorded
   BTC perp month repeated to 1M bars when ``../shared/data`` is present, else a synthetic walk),
   best of ``--repeat`` runs, in one process.
2. Incremental: ``atr_update`` per bar, ``rv_update`` per bar, and S2's book-event step
   (``apply_book``: float conversion of the top levels, spread, imbalance, DQC) per event.
3. Handler: one in-process Worker (uvloop) running S2's binding on throwaway Redis and
   PostgreSQL servers over a pre-filled stream per symbol (10 book updates and 10 trades a
   second of venue time, one bar a minute); events/s from start to fully acked, and the
   handler's own latency per event (p50 / p99 / max, timed around ``on_market``), plus the share
   of the runtime's histogram at or below 1 ms.

    .venv/bin/python scripts/bench/s2_features.py [--events 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import talib  # noqa: E402
import yaml  # noqa: E402

from chimera.config.features import FeaturesConfig  # noqa: E402
from chimera.domain.market import Bar1m, BookEvent, MarketEvent, TradeEvent  # noqa: E402
from chimera.features import AtrState, RvState, atr, atr_update, natr, rv_update  # noqa: E402
from chimera.names import mkt_stream  # noqa: E402
from chimera_workers.codec import encode_payload  # noqa: E402
from chimera_workers.config_ref import ConfigRef  # noqa: E402
from chimera_workers.connections import open_db_pool, open_redis  # noqa: E402
from chimera_workers.keys import PAYLOAD_FIELD  # noqa: E402
from chimera_workers.migrations import upgrade  # noqa: E402
from chimera_workers.topology_loader import load_app  # noqa: E402
from chimera_workers.worker import Worker  # noqa: E402
from handlers.s2_features import handlers as s2  # noqa: E402
from handlers.s2_features.state import apply_book, new_cache  # noqa: E402
from tests.harness.servers import PostgresProcess, RedisProcess  # noqa: E402

BARS = ROOT.parent / "shared/data/bars/btc-perp-20211231-20220201_1m.csv"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def _bars(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    if BARS.exists():
        data = np.genfromtxt(BARS, delimiter=",", skip_header=1, usecols=(2, 3, 4))
        reps = -(-n // len(data))
        data = np.tile(data, (reps, 1))[:n]
        return (np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(data[:, 1]),
                np.ascontiguousarray(data[:, 2]), f"recorded BTC perp bars x{reps}")  # fmt: skip
    rng = np.random.default_rng(1)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    return close * 1.0005, close * 0.9995, close, "synthetic walk"


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_batch(n: int, repeat: int) -> None:
    high, low, close, source = _bars(n)
    atr(high[:100], low[:100], close[:100], 14)  # compile / load the cache
    natr(high[:100], low[:100], close[:100], 14)
    print(f"batch, {n:,} bars ({source}), best of {repeat}:")
    for name, ours, theirs in (("ATR", atr, talib.ATR), ("NATR", natr, talib.NATR)):
        t_ours = _best(lambda f=ours: f(high, low, close, 14), repeat) / n * 1e9
        t_ta = _best(lambda f=theirs: f(high, low, close, 14), repeat) / n * 1e9
        print(f"  {name:4}  chimera {t_ours:6.2f} ns/bar   ta-lib {t_ta:6.2f} ns/bar   "
              f"ratio {t_ours / t_ta:4.2f}x  (target <= 2x)")  # fmt: skip


def bench_incremental(repeat: int) -> None:
    high, low, close, _ = _bars(100_000)
    h, lo, c = high.tolist(), low.tolist(), close.tolist()

    def run_atr() -> None:
        state = AtrState(14)
        for i in range(len(c)):
            state = atr_update(state, h[i], lo[i], c[i])

    def run_rv() -> None:
        state = RvState(60)
        for i in range(10_000):
            state, _, _ = rv_update(state, c[i])

    cfg = FeaturesConfig()
    books = [_book("BTCUSDT", i, 30_000.0 + (i % 50)) for i in range(10_000)]

    def run_book() -> None:
        cache = new_cache("BTCUSDT", cfg)
        for m in books:
            assert type(m.event) is BookEvent
            cache = apply_book(cache, m.event, cfg)

    run_atr()
    run_rv()
    run_book()
    print(f"incremental, best of {repeat}:")
    print(f"  atr_update   {_best(run_atr, repeat) / len(c) * 1e6:6.3f} µs/bar  (target <= 1 µs)")
    print(f"  rv_update    {_best(run_rv, repeat) / 10_000 * 1e6:6.3f} µs/bar  (window 60)")
    print(f"  apply_book   {_best(run_book, repeat) / 10_000 * 1e6:6.3f} µs/event (5 levels)")


def _book(symbol: str, seq: int, mid: float) -> MarketEvent:
    ts = 1_767_225_600_000 + seq * 100
    bid = Decimal(f"{mid - 0.05:.2f}")
    ask = Decimal(f"{mid + 0.05:.2f}")
    levels = 10
    return MarketEvent(BookEvent(
        kind="perp", symbol=symbol, ts_ms=ts, recv_ts_ms=ts + 3, update_id=seq + 1,
        bid=bid, bid_qty=Decimal("1.5"), ask=ask, ask_qty=Decimal("0.7"),
        mid=(bid + ask) / 2, spread_bp=(ask - bid) / ((bid + ask) / 2) * 10_000,
        bids=tuple((bid - Decimal("0.1") * k, Decimal("1.5") + k) for k in range(levels)),
        asks=tuple((ask + Decimal("0.1") * k, Decimal("0.7") + k) for k in range(levels)),
    ))  # fmt: skip


def _payloads(symbol: str, n: int) -> list[bytes]:
    """Encode n events: per 100 ms one book update and one trade; a bar each minute."""
    out: list[bytes] = []
    rng = np.random.default_rng(len(symbol))
    mid = 30_000.0
    trade_id = 1
    minute_first = 1
    seq = 0
    while len(out) < n:
        mid *= float(np.exp(rng.normal(0, 2e-5)))
        book = _book(symbol, seq, mid)
        out.append(encode_payload(book))
        ts = book.event.ts_ms
        out.append(encode_payload(MarketEvent(TradeEvent(
            kind="perp", symbol=symbol, trade_id=trade_id, price=Decimal(f"{mid:.1f}"),
            qty=Decimal("0.01"), side="buy", ts_ms=ts + 1, recv_ts_ms=ts + 4,
        ))))  # fmt: skip
        trade_id += 1
        seq += 1
        if seq % 600 == 1 and seq > 1:  # the next minute's first trade closes the bar
            price = Decimal(f"{mid:.1f}")
            open_time = ts - ts % 60_000 - 60_000
            out.append(encode_payload(MarketEvent(Bar1m(
                kind="perp", symbol=symbol, open_time=open_time, open=price,
                high=price + 5, low=price - 5, close=price, volume=Decimal(1),
                quote_volume=price, trade_count=trade_id - 1 - minute_first,
                first_trade_id=minute_first, last_trade_id=trade_id - 2, complete=True,
            ))))  # fmt: skip
            minute_first = trade_id - 1
    return out[:n]


async def bench_handler(events: int, workdir: Path) -> None:
    redis_server = RedisProcess(workdir / "redis").start()
    pg = PostgresProcess(workdir / "pg").start()
    try:
        await _run_handler(events, redis_server.url, pg.url())
    finally:
        redis_server.stop()
        pg.stop()


async def _run_handler(events: int, redis_url: str, db_url: str) -> None:
    topo = {
        "version": 1, "symbols": list(SYMBOLS),
        "streams": [
            {"name": "mkt:events:{perp}:<SYMBOL>", "type": "chimera.domain.market:MarketEvent"},
            {"name": "feat:events:<SYMBOL>", "type": "chimera.domain.features:FeatureEvent"},
        ],
        "bindings": [{"name": "s2-features", "stream": "mkt:events:{perp}:<SYMBOL>",
                      "handler": "handlers.s2_features.handlers:on_market",
                      "batch_size": 500, "block_ms": 100, "concurrency": 1}],
    }  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="s2-bench-")) / "streams.yaml"
    path.write_text(yaml.safe_dump(topo))
    app = load_app(path)
    timings: list[float] = []
    clock = time.perf_counter
    per_symbol = events // len(SYMBOLS)
    total = per_symbol * len(SYMBOLS)
    all_handled = asyncio.Event()

    async def timed(event: MarketEvent, ctx: Any) -> None:
        start = clock()
        await s2.on_market(event, ctx)
        timings.append(clock() - start)
        if len(timings) >= total:
            all_handled.set()

    binding = app.bindings["s2-features"]
    app.bindings["s2-features"] = dataclasses.replace(binding, handler=timed)
    redis = await open_redis(redis_url, retries=0)
    pool = await open_db_pool(db_url)
    await upgrade(pool, ROOT / "migrations")
    for symbol in SYMBOLS:
        payloads = _payloads(symbol, per_symbol)
        for i in range(0, len(payloads), 5_000):
            pipe = redis.pipeline(transaction=False)
            for p in payloads[i : i + 5_000]:
                pipe.xadd(mkt_stream("perp", symbol), {PAYLOAD_FIELD: p})
            await pipe.execute()
    worker = Worker(app, redis, consumer="bench.1", db=pool, retention=False,
                    config=ConfigRef(FeaturesConfig(), 1))  # fmt: skip
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    await worker.start()
    await all_handled.wait()
    while True:
        pending = sum([
            (await redis.xpending(mkt_stream("perp", s), "s2-features"))["pending"]
            for s in SYMBOLS
        ])  # fmt: skip
        if pending == 0:
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    await worker.stop()
    series = worker.metrics.latency.labels("s2-features")
    within_1ms = sum(series.counts[:2]) / max(1, sum(series.counts))
    signals = await pool.fetchval("SELECT count(*) FROM signals")
    await redis.aclose()
    await pool.close()
    lat = np.array(timings) * 1e6
    print(f"handler, {total:,} events on {len(SYMBOLS)} symbols ({signals} bars -> signals), "
          "one worker process:")  # fmt: skip
    print(f"  {total / elapsed:,.0f} events/s from start to all acked   (target >= 20,000)")
    print(f"  on_market latency: p50 {np.percentile(lat, 50):.1f} µs  p99 "
          f"{np.percentile(lat, 99):.1f} µs  p99.9 {np.percentile(lat, 99.9):.1f} µs  "
          f"max {lat.max():.0f} µs   (target p99 < 1 ms)")  # fmt: skip
    print(f"  runtime histogram: {within_1ms:.2%} of handler runs <= 1 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="handler events in total")
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars for the batch kernels")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-handler", action="store_true")
    args = parser.parse_args()
    bench_batch(args.bars, args.repeat)
    bench_incremental(args.repeat)
    if not args.skip_handler:
        import uvloop

        with tempfile.TemporaryDirectory(prefix="s2-bench-") as tmp:
            uvloop.run(bench_handler(args.events, Path(tmp)))


if __name__ == "__main__":
    main()
