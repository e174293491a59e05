"""Measure how many market messages/s the paper venue pushes to one websocket subscriber.

Replays ``../shared/data/binance-ws/usdm_btcusdt_20240808.gz`` at max speed (or, without the
data, the synthetic market at max speed) to one combined-stream client subscribed to depth,
trades and bookTicker, and prints messages/s as the client receives them. Not a test.

    .venv/bin/python scripts/bench/venue_market.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from pathlib import Path

import aiohttp

from chimera.paper.faults import FaultBoard
from chimera.paper.server.app import AppRunner, build_app
from chimera.paper.settings import PaperVenueConfig
from chimera.paper.venue import build_market
from chimera_workers.cli.common import run

CAPTURE = (
    Path(__file__).resolve().parents[2].parent / "shared/data/binance-ws/usdm_btcusdt_20240808.gz"
)


async def bench(seconds: float) -> None:
    replay = CAPTURE.is_file()
    if replay:
        config = PaperVenueConfig(port=0, speed=0, data_files=(str(CAPTURE),), ws_queue_size=10**6)
        streams = "btcusdt@depth@0ms/btcusdt@trade/btcusdt@bookTicker"
    else:
        config = PaperVenueConfig(port=0, speed=0, warmup_ms=0, ws_queue_size=10**6)
        streams = "/".join(
            f"{s}@{c}"
            for s, c in itertools.product(
                ("btcusdt", "ethusdt", "solusdt"), ("depth@0ms", "trade", "bookTicker")
            )
        )
    hub, source = build_market(config)
    runner = AppRunner(build_app(hub, None, FaultBoard(), ws_queue_size=10**6), "127.0.0.1", 0)
    await runner.start()
    url = f"ws://127.0.0.1:{runner.port}/fapi/stream?streams={streams}"
    received = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        driver = asyncio.create_task(hub.run(source))
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            try:
                msg = await asyncio.wait_for(ws.receive(), 2.0)
            except TimeoutError:
                break  # the replay ended
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            received += 1
        elapsed = time.perf_counter() - start
        driver.cancel()
    await runner.stop()
    source_name = CAPTURE.name if replay else "synthetic market"
    print(
        f"{source_name}: {received} messages in {elapsed:.2f} s -> {received / elapsed:,.0f} msgs/s"
    )
    print(f"hub applied {hub.events_applied} events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    run(bench(args.seconds))


if __name__ == "__main__":
    main()
