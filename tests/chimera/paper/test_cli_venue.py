"""``chimera venue serve`` as a process: serves, stops cleanly on SIGTERM, rejects bad args."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

CHIMERA = Path(sys.executable).parent / "chimera"


async def test_serve_then_sigterm_exits_zero() -> None:
    proc = await asyncio.create_subprocess_exec(
        str(CHIMERA), "venue", "serve", "--port", "0", "--warmup-ms", "2000", "--seed", "3",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stderr is not None
    url = None
    try:
        while url is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "the venue exited before listening"
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else None
        async with aiohttp.ClientSession() as http, http.get(url + "/api/v3/ping") as resp:
            assert resp.status == 200 and await resp.json() == {}
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 30)
    assert rc == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "port 70000 is out of range"),
        (["--data", "/no/such/capture.gz"], "data file '/no/such/capture.gz' does not exist"),
        (["--symbols", "DOGEUSDT"], "symbol 'DOGEUSDT' is not a paper market"),
        (["--speed", "-1"], "speed -1.0 is negative"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [str(CHIMERA), "venue", "serve", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"error: {message}"
