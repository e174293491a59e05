"""``chimera up``: Procfile processes with stable slots, restart on crash, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from chimera_workers.errors import ConfigError
from chimera_workers.procfile import parse_concurrency, parse_procfile
from tests.conftest import ROOT
from tests.runner_app.topology import JOBS, write_topology


def test_procfile_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "Procfile"
    bad.write_text("# comment\nweb: chimera worker\nnot a line\n")
    with pytest.raises(ConfigError, match=r"Procfile:3: not a Procfile line"):
        parse_procfile(bad)
    bad.write_text("a: x\na: y\n")
    with pytest.raises(ConfigError, match="already defined on line 1"):
        parse_procfile(bad)
    good = tmp_path / "Procfile.ok"
    good.write_text("jobs: chimera worker\nother: sleep 1\n")
    types = parse_procfile(good)
    assert parse_concurrency(["jobs=3"], types) == {"jobs": 3, "other": 1}
    with pytest.raises(ConfigError, match="no process type 'nope'"):
        parse_concurrency(["nope=2"], types)


def _slots(client: redis.Redis) -> set[str]:
    return {c["name"].decode().rsplit(":", 1)[-1] for c in client.xinfo_consumers(JOBS, "jobs")}


@pytest.mark.timeout(120)
def test_up_runs_slots_restarts_a_killed_one_and_stops_cleanly(
    tmp_path: Path, redis_url: str
) -> None:
    streams = write_topology(tmp_path, handler="record")
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"jobs: chimera worker --binding jobs --no-schedules --no-db --streams {streams}\n"
    )
    env = {
        **os.environ,
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_STREAMS": str(streams),
        "CHIMERA_DATABASE_URL": "postgresql://unused@127.0.0.1:1/none",
        "PYTHONPATH": str(ROOT),
    }
    client = redis.Redis.from_url(redis_url)
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chimera_workers.cli",
            "up",
            "-f",
            str(procfile),
            "-c",
            "jobs=2",
            "--streams",
            str(streams),
            "--stop-timeout",
            "10",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _consumers(client) < 2:
            time.sleep(0.1)
        assert _slots(client) == {"jobs.1", "jobs.2"}
        pids = _worker_pids(up.pid)
        assert len(pids) == 2
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(set(_worker_pids(up.pid)) - {pids[0]}) < 2:
            time.sleep(0.1)
        assert len(set(_worker_pids(up.pid)) - {pids[0]}) == 2, "the killed slot was not restarted"
        # Let the new process finish loading (interpreter and imports take about a second),
        # so the stop below exercises a running worker, not one still importing.
        time.sleep(3)
        for seq in range(50):
            client.xadd(JOBS, {"d": f'{{"seq": {seq}}}'.encode()})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.hlen("t:effects") < 50:
            time.sleep(0.1)
        assert client.hlen("t:effects") == 50
        assert _slots(client) == {"jobs.1", "jobs.2"}, "a restarted slot must keep its name"
    finally:
        up.send_signal(signal.SIGTERM)
        out, _ = up.communicate(timeout=30)
        client.close()
    assert up.returncode == 0, out
    assert "jobs.1 | exited 0" in out and "jobs.2 | exited 0" in out


def _consumers(client: redis.Redis) -> int:
    try:
        return len(client.xinfo_consumers(JOBS, "jobs"))
    except redis.ResponseError:
        return 0


def _worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]
