"""The embedded Redis and PostgreSQL: start, reuse, status, stop, and restart with data kept."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis
from typer.testing import CliRunner

from chimera_workers.cli.services import app as services_app
from chimera_workers.embedded import (
    ServiceStatus,
    services_down,
    services_status,
    services_up,
)
from chimera_workers.endpoints import Endpoints, resolve_endpoints
from chimera_workers.errors import ServerUnavailable
from chimera_workers.settings import Settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A state dir of its own; whatever the tests leave running is stopped at the end."""
    settings = Settings(state_dir=str(tmp_path_factory.mktemp("state")))
    yield settings
    services_down(settings)


def _by_name(rows: list[ServiceStatus]) -> dict[str, ServiceStatus]:
    return {row.name: row for row in rows}


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


async def _query(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_up_starts_both_servers_and_up_again_reuses_them(settings: Settings) -> None:
    first = services_up(settings)
    before = _by_name(services_status(settings))
    second = services_up(settings)
    after = _by_name(services_status(settings))

    assert first == second
    assert before == after
    assert after["redis"].state == after["postgres"].state == "running"
    assert after["redis"].url == first.redis_url
    assert after["postgres"].url == first.database_url
    assert first.redis_url.startswith("redis://127.0.0.1:")
    client = redis.Redis.from_url(first.redis_url)
    assert client.ping()
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()
    assert await _query(first.database_url, "SELECT current_database()") == "chimera"
    assert (settings.state_path / "services.json").exists()
    assert (settings.state_path / "redis" / "redis.log").exists()


async def test_resolve_endpoints_prefers_the_environment(settings: Settings) -> None:
    embedded = services_up(settings)
    both = Settings(
        redis_url="redis://elsewhere:1/0",
        database_url="postgresql://elsewhere/x",
        state_dir=settings.state_dir,
    )
    assert resolve_endpoints(both) == Endpoints("redis://elsewhere:1/0", "postgresql://elsewhere/x")
    only_redis = Settings(redis_url="redis://elsewhere:1/0", state_dir=settings.state_dir)
    assert resolve_endpoints(only_redis, start=False) == Endpoints(
        "redis://elsewhere:1/0", embedded.database_url
    )
    assert resolve_endpoints(settings, start=False) == embedded


async def test_down_stops_both_and_up_restarts_them_with_the_data(settings: Settings) -> None:
    endpoints = services_up(settings)
    client = redis.Redis.from_url(endpoints.redis_url)
    client.set("kept", "across restarts")
    client.close()
    conn = await asyncpg.connect(endpoints.database_url)
    await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('rows too')")
    await conn.close()
    pids = {row.name: row.pid for row in services_status(settings)}

    assert sorted(services_down(settings)) == ["postgres", "redis"]
    assert all(pid is not None and _gone(pid) for pid in pids.values())
    rows = _by_name(services_status(settings))
    assert rows["redis"].state == rows["postgres"].state == "stopped"
    assert services_down(settings) == []
    with pytest.raises(ServerUnavailable) as info:
        resolve_endpoints(settings, start=False)
    assert "chimera services up" in str(info.value.hint)

    again = services_up(settings)
    assert again == endpoints  # same Redis port, same socket
    client = redis.Redis.from_url(again.redis_url)
    assert client.get("kept") == b"across restarts"
    client.close()
    assert await _query(again.database_url, "SELECT v FROM kept") == "rows too"


def test_a_killed_redis_is_restarted_on_the_same_port(settings: Settings) -> None:
    endpoints = services_up(settings)
    pid = _by_name(services_status(settings))["redis"].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # leaves a stale pidfile behind
    assert _gone(pid)
    assert _by_name(services_status(settings))["redis"].state == "stopped"

    assert services_up(settings).redis_url == endpoints.redis_url
    row = _by_name(services_status(settings))["redis"]
    assert row.state == "running"
    assert row.pid != pid


def test_services_cli_up_status_down(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {
        "CHIMERA_STATE_DIR": settings.state_dir,
        "CHIMERA_REDIS_URL": None,
        "CHIMERA_DATABASE_URL": None,
    }
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_cli_table.sql").write_text("CREATE TABLE cli_table (id int);\n")

    up = runner.invoke(services_app, ["up", "--migrations", str(migrations)], env=env)
    assert up.exit_code == 0, up.output
    assert "redis://127.0.0.1:" in up.stdout
    assert "0001_cli_table.sql" in up.stdout

    status = runner.invoke(services_app, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert status.stdout.count("running") == 2

    down = runner.invoke(services_app, ["down"], env=env)
    assert down.exit_code == 0, down.output
    assert "redis" in down.stdout and "postgres" in down.stdout
    status = runner.invoke(services_app, ["status"], env=env)
    assert status.stdout.count("stopped") == 2

    for args in (["--help"], ["up", "--help"], ["down", "--help"], ["status", "--help"]):
        shown = runner.invoke(services_app, args)
        assert shown.exit_code == 0 and "Usage" in shown.stdout
