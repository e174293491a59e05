"""Latency of placing + acking an order on the paper venue through ccxt (signed REST, loopback).

Reports p50/p99 of the client round trip (ccxt ``create_order``, signing and parsing included)
and of the venue's own handling time (auth + matching + encoding, from the
``X-Chimera-Handling-Us`` response header). The latency model is off. Not a test.

    .venv/bin/python scripts/bench/venue_orders.py [--orders 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from chimera.paper.settings import PaperVenueConfig
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.settings import VenueSettings

SYMBOL = "BTC/USDT"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(orders: int) -> None:
    with tempfile.TemporaryDirectory() as state_dir:
        config = PaperVenueConfig(port=0, seed=1, warmup_ms=60_000, state_dir=state_dir)
        venue = PaperVenue(config, make_plugin)
        await venue.start()
        exchange = make_exchange("spot", VenueSettings(mode="paper", paper_url=venue.base_url))
        try:
            await exchange.load_markets()
            book = await exchange.fetch_order_book(SYMBOL)
            price = float(exchange.price_to_precision(SYMBOL, book["bids"][0][0] * 0.9))
            round_trip_us: list[float] = []
            handling_us: list[float] = []
            for n in range(orders + 50):
                started = time.perf_counter()
                placed = await exchange.create_order(SYMBOL, "limit", "buy", 0.001, price)
                elapsed = (time.perf_counter() - started) * 1e6
                handled = float(exchange.last_response_headers.get("X-Chimera-Handling-Us", 0))
                await exchange.cancel_order(placed["id"], SYMBOL)
                if n >= 50:  # warm-up
                    round_trip_us.append(elapsed)
                    handling_us.append(handled)
        finally:
            await exchange.close()
            await venue.stop()
    for name, values in (("venue handling", handling_us), ("ccxt round trip", round_trip_us)):
        print(
            f"{name:16s} n={len(values)} p50={pct(values, 0.5) / 1000:.3f} ms "
            f"p99={pct(values, 0.99) / 1000:.3f} ms mean={statistics.fmean(values) / 1000:.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    asyncio.run(run(parser.parse_args().orders))


if __name__ == "__main__":
    main()
