"""Start ``chimera worker`` as a real subprocess for crash and signal tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def start_worker(
    streams: Path,
    consumer: str,
    *,
    redis_url: str,
    database_url: str | None,
    binding: str = "jobs",
    grace: float = 10.0,
    log: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHIMERA_REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        "CHIMERA_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    args = [
        sys.executable,
        "-m",
        "chimera_workers.cli",
        "worker",
        "--streams",
        str(streams),
        "--binding",
        binding,
        "--no-schedules",
        "--consumer",
        consumer,
        "--grace",
        str(grace),
    ]
    if database_url:
        env["CHIMERA_DATABASE_URL"] = database_url
    else:
        env.pop("CHIMERA_DATABASE_URL", None)
        args.append("--no-db")
    if log is None:
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
    # The child gets its own copy of the descriptor, so the parent's can close at once.
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
