"""``chimera config load|activate|show`` against real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
import redis
from typer.testing import CliRunner, Result

from chimera import names
from chimera_workers.cli import root_app

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "config" / "bundle.yaml"


@pytest.fixture
def config(pool: asyncpg.Pool, db_url: str, redis_url: str) -> Config:
    """Run ``chimera config ARGS`` (the root command, as installed) on a migrated database."""
    runner = CliRunner(env={"CHIMERA_DATABASE_URL": db_url, "CHIMERA_REDIS_URL": redis_url})

    def invoke(*args: str) -> Result:
        return runner.invoke(root_app(), ["config", *args])

    return invoke


Config = Callable[..., Result]


def announcements(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen(names.CFG_EVENTS))
    finally:
        client.close()


def test_load_activate_show(config: Config, redis_url: str) -> None:
    stored = config("load", str(SHIPPED), "--by", "alice")
    assert stored.exit_code == 0, stored.output
    assert stored.stdout == "stored config rev 1 (bundle.yaml)\n"
    assert announcements(redis_url) == 0
    shown = config("show")
    assert shown.stdout.startswith("# config rev 0 (the bundle file; nothing activated yet)")
    activated = config("load", str(SHIPPED), "--activate", "--by", "bob")
    assert activated.stdout == "stored and activated config rev 2 (bundle.yaml)\n"
    assert announcements(redis_url) == 1
    assert config("activate", "1").stdout == "activated config rev 1\n"
    assert announcements(redis_url) == 2
    shown = config("show")
    assert shown.exit_code == 0 and shown.stdout.startswith("# config rev 1\n")
    assert "rev: '1'" in shown.stdout and "treasury:" in shown.stdout
    listing = config("show", "--list").stdout.splitlines()
    assert listing[0].startswith("  rev 2  bundle.yaml  by bob")
    assert listing[1].startswith("* rev 1  bundle.yaml  by alice")
    assert config("show", "--rev", "2").stdout.startswith("# config rev 2\n")


def test_a_bad_file_is_located_and_nothing_is_written(
    config: Config, redis_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rev: '9'\ntreasury:\n  lock_ttl_ms: 0\n  surprise: 1\n  daily_max:\n    USDT: abc\n"
    )
    result = config("load", str(bad), "--activate")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert f"{bad}:4:3: treasury.surprise: unknown field `surprise` (hint: remove it)" in lines
    assert any(line.startswith(f"{bad}:3:16: treasury.lock_ttl_ms:") for line in lines), lines
    assert any(
        line.startswith(f"{bad}:6:5: treasury.daily_max: invalid decimal") for line in lines
    ), lines
    assert config("show", "--list").stdout == "no config bundles stored\n"
    assert announcements(redis_url) == 0


def test_activating_an_unknown_rev_exits_2(config: Config, redis_url: str) -> None:
    result = config("activate", "42")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: config revision 42 does not exist"
    assert announcements(redis_url) == 0


def test_a_missing_file_exits_2(config: Config, tmp_path: Path) -> None:
    result = config("load", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "file not found" in result.stderr
