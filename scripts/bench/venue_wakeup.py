"""What waking an idle process costs: the venue round trip back to back vs after an idle gap.

Places futures MARKET orders through ccxt on the paper venue in its own process (as in the
Procfile), alternating buy and sell, in rounds: back to back, then with ``--idle-ms`` of sleep
before each order (the decision path idles like this between hops and between decisions).
``--cpu-wake-latency-us 0`` holds the PM QoS bound a worker holds with
``CHIMERA_CPU_WAKE_LATENCY_US=0`` (docs/runtime.md). Not a test.

    .venv/bin/python scripts/bench/venue_wakeup.py [--orders 300] [--idle-ms 3]
        [--cpu-wake-latency-us 0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import s4_router as bench

from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.settings import VenueSettings

SYMBOL = "BTC/USDT:USDT"
WARMUP = 30


async def one_round(exchange: object, orders: int, idle_s: float) -> list[float]:
    create_order = exchange.create_order  # type: ignore[attr-defined]
    latencies = []
    for n in range(orders + WARMUP):
        if idle_s:
            await asyncio.sleep(idle_s)
        started = time.perf_counter()
        await create_order(SYMBOL, "market", "buy" if n % 2 == 0 else "sell", "0.002")
        if n >= WARMUP:
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def run(orders: int, idle_ms: float) -> None:
    with tempfile.TemporaryDirectory(prefix="venue-wakeup-") as tmp:
        async with bench.paper_venue(Path(tmp) / "venue", False) as base_url:
            exchange = make_exchange("linear", VenueSettings(mode="paper", paper_url=base_url))
            try:
                await exchange.load_markets()
                rounds = (("back to back", 0.0), (f"after {idle_ms:g} ms idle", idle_ms / 1000))
                for label, idle_s in rounds * 2:
                    values = await one_round(exchange, orders, idle_s)
                    print(
                        f"{label:18s} n={len(values)} p50={bench.pct(values, 0.5):.3f} "
                        f"p90={bench.pct(values, 0.9):.3f} p99={bench.pct(values, 0.99):.3f} ms",
                        flush=True,
                    )
            finally:
                await exchange.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--idle-ms", type=float, default=3.0)
    bench.add_wake_option(parser)
    args = parser.parse_args()
    with bench.cpu_wake(args):
        uvloop.run(run(args.orders, args.idle_ms))


if __name__ == "__main__":
    main()
