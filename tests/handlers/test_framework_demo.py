"""``make demo``'s program end to end: servers, Procfile workers, producers, summary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.timeout(180)
def test_demo_runs_for_its_duration_and_accounts_for_every_event(
    tmp_path: Path, redis_url: str, db_url: str
) -> None:
    env = {
        **os.environ,
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_DATABASE_URL": db_url,
        "CHIMERA_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "160",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "handlers.framework_demo",
            "--duration",
            "6",
            "--rate",
            "300",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "produced = stored + dead-lettered: yes" in out
    assert "('demo-ticks.1', [0])" in out and "('demo-counts.1', [0])" in out
    assert (tmp_path / "state" / "demo-workers.log").exists()


@pytest.mark.timeout(180)
def test_ctrl_c_ends_the_demo_with_the_summary(tmp_path: Path, redis_url: str, db_url: str) -> None:
    env = {
        **os.environ,
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_DATABASE_URL": db_url,
        "CHIMERA_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "160",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "handlers.framework_demo", "--rate", "300", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "produced = stored + dead-lettered: yes" in out
    assert "('demo-ticks.1', [0])" in out
