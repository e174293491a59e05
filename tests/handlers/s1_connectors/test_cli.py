"""``chimera connectors run`` as a process: streams the paper market, exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from chimera.names import mkt_stream
from tests.chimera.paper.venue_fixtures import running_venue, venue_config

ROOT = Path(__file__).resolve().parents[3]
CHIMERA = Path(sys.executable).parent / "chimera"


async def test_connectors_run_streams_until_sigterm(
    redis_url: str, db_url: str, tmp_path: Path
) -> None:
    async with running_venue(venue_config(symbols=("BTCUSDT",), speed=4.0)) as venue:
        env = {
            **os.environ,
            "CHIMERA_REDIS_URL": redis_url,
            "CHIMERA_DATABASE_URL": db_url,
            "CHIMERA_STREAMS": str(tmp_path / "absent.yaml"),  # defaults, no topology
            "CHIMERA_VENUE": "paper",
        }
        proc = await asyncio.create_subprocess_exec(
            str(CHIMERA), "connectors", "run", "--symbols", "BTCUSDT", "--kinds", "spot,perp",
            "--venue-url", venue.base_url,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        client = aioredis.Redis.from_url(redis_url)
        try:
            deadline = time.monotonic() + 30
            while not all(
                [await client.xlen(mkt_stream(k, "BTCUSDT")) > 0 for k in ("spot", "perp")]
            ):
                assert proc.returncode is None, (await proc.stdout.read()).decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "no market data on the streams"
                await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), 20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await client.aclose()
    assert proc.returncode == 0, output.decode()
    assert b"S1 stopped" in output
