"""``make demo``'s program end to end: every Procfile process, live views, summary."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def demo_env(tmp_path: Path, redis_url: str, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_DATABASE_URL": db_url,
        "CHIMERA_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "140",
        "PYTHONUNBUFFERED": "1",
    }


def assert_reconciled(out: str) -> None:
    assert "trade ids contiguous on every stream: yes" in out, out
    events = re.search(r"([\d,]+) market events in", out)
    assert events is not None and int(events.group(1).replace(",", "")) > 0, out
    assert "('venue.1', [0])" in out and "('connectors.1', [0])" in out, out
    assert "('api.1', [0])" in out, out
    # The account and the streams' lag, read while the processes still ran.
    assert "positions (venue)" in out and "PnL (USDT): realized" in out, out
    assert re.search(r"fills: \d+ this run, \d+ in the account", out), out
    assert re.search(r"max stream lag seen: [\d,]+", out), out
    assert "feat:events:BTCUSDT" in out and "s3-decide" in out, out


@pytest.mark.timeout(240)
def test_demo_runs_the_venue_s1_and_api_for_its_duration(
    tmp_path: Path, redis_url: str, db_url: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chimera.demo", "--duration", "10", "--speed", "5"],
        cwd=ROOT,
        env=demo_env(tmp_path, redis_url, db_url),
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert_reconciled(result.stdout)
    for market in ("{perp}:BTCUSDT", "{spot}:ETHUSDT", "{funding}:SOLUSDT"):
        assert market in result.stdout


@pytest.mark.timeout(240)
def test_ctrl_c_ends_the_demo_with_the_summary(tmp_path: Path, redis_url: str, db_url: str) -> None:
    lines: list[str] = []
    watching = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-m", "chimera.demo", "--speed", "5"],
        cwd=ROOT,
        env=demo_env(tmp_path, redis_url, db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        stdout = proc.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                lines.append(line)
                if line.startswith("paper venue at"):
                    watching.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # Interrupt once the demo watches the market (its "paper venue at" line), plus a while.
        assert watching.wait(120), "".join(lines)
        time.sleep(6)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        reader.join(10)
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert_reconciled(out)


def test_a_missing_data_file_is_a_clear_error(tmp_path: Path, redis_url: str, db_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chimera.demo", "--data", str(tmp_path / "nope.gz")],
        cwd=ROOT,
        env=demo_env(tmp_path, redis_url, db_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nope.gz: no such file" in result.stderr
