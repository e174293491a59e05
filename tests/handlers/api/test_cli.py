"""``chimera api serve``: refuses to start without a token or servers; serves and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
CHIMERA = str(Path(sys.executable).parent / "chimera")
TOKEN = "cli-test-service-token-0123456789"


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIMERA_")}
    env.update(overrides)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_without_a_token_exits_2_with_one_clear_line() -> None:
    result = subprocess.run(
        [CHIMERA, "api", "serve"], cwd=ROOT, env=_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "error: $CHIMERA_SERVICE_TOKEN is not set; internal endpoints need a service token"
    )


def test_serve_with_unreachable_redis_exits_2(db_url: str) -> None:
    env = _env(
        CHIMERA_SERVICE_TOKEN=TOKEN,
        CHIMERA_REDIS_URL=f"redis://127.0.0.1:{_free_port()}",
        CHIMERA_DATABASE_URL=db_url,
    )
    result = subprocess.run(
        [CHIMERA, "api", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:")


def test_serve_answers_and_stops_on_sigterm(redis_url: str, db_url: str) -> None:
    port = _free_port()
    env = _env(
        CHIMERA_SERVICE_TOKEN=TOKEN,
        CHIMERA_REDIS_URL=redis_url,
        CHIMERA_DATABASE_URL=db_url,
        # VenueSettings.from_env needs it set (its default fallback is broken; see the report).
        CHIMERA_PAPER_URL="http://127.0.0.1:8765",
    )
    proc = subprocess.Popen(
        [CHIMERA, "api", "serve", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"api did not start: {proc.communicate()[0]}")
                time.sleep(0.1)
        assert reply.status_code == 200
        assert "/xchg/treasury/transfer" in reply.json()["paths"]
        unauthorized = httpx.post(f"http://127.0.0.1:{port}/xchg/treasury/transfer", json={})
        assert unauthorized.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
