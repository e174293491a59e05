"""Versioned SQL migrations against a real PostgreSQL: order, idempotence, refusals, locking."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from chimera_workers.cli.db import app as db_app
from chimera_workers.errors import ConfigError, ServerUnavailable
from chimera_workers.migrations import discover, status, upgrade

# The session ``postgres`` fixture imports pgserver, which warns when XDG_RUNTIME_DIR is unset.

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


async def test_upgrade_applies_in_order_once(db_url: str, tmp_path: Path) -> None:
    d = write(
        tmp_path / "m",
        {
            "0002_fill.sql": "INSERT INTO things VALUES (1), (2);",
            "0001_things.sql": "CREATE TABLE things (id int PRIMARY KEY);",
            "README.md": "not a migration",
        },
    )
    assert [s.state for s in await status(db_url, d)] == ["pending", "pending"]

    applied = await upgrade(db_url, d)
    assert [(m.version, m.name) for m in applied] == [(1, "things"), (2, "fill")]
    assert await upgrade(db_url, d) == []
    assert [r["id"] for r in await fetch(db_url, "SELECT id FROM things ORDER BY id")] == [1, 2]

    write(d, {"0003_more.sql": "INSERT INTO things VALUES (3);"})
    assert [m.version for m in await upgrade(db_url, d)] == [3]
    report = await status(db_url, d)
    assert [(s.version, s.state) for s in report] == [(v, "applied") for v in (1, 2, 3)]
    assert all(s.applied_at is not None for s in report)
    recorded = await fetch(db_url, "SELECT version, name FROM chimera_schema_migrations")
    assert sorted((r["version"], r["name"]) for r in recorded) == [
        (1, "things"),
        (2, "fill"),
        (3, "more"),
    ]


async def test_an_edited_applied_migration_is_refused(db_url: str, tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (id int);"})
    await upgrade(db_url, d)
    write(
        d,
        {
            "0001_t.sql": "CREATE TABLE t (id bigint);",
            "0002_next.sql": "CREATE TABLE never_applied (id int);",
        },
    )

    with pytest.raises(ConfigError, match=re.escape("0001_t.sql")):
        await upgrade(db_url, d)
    assert [s.state for s in await status(db_url, d)] == ["changed", "pending"]
    assert await fetch(db_url, "SELECT to_regclass('never_applied') AS r") == [(None,)]


async def test_a_failing_migration_is_rolled_back(db_url: str, tmp_path: Path) -> None:
    d = write(
        tmp_path / "m",
        {
            "0001_ok.sql": "CREATE TABLE ok (id int);",
            "0002_broken.sql": "CREATE TABLE half (id int); SELECT no_such_column FROM ok;",
        },
    )
    with pytest.raises(ConfigError, match=re.escape("0002_broken.sql")):
        await upgrade(db_url, d)
    assert [s.state for s in await status(db_url, d)] == ["applied", "pending"]
    assert await fetch(db_url, "SELECT to_regclass('half') AS r") == [(None,)]


@pytest.mark.parametrize(
    ("files", "culprit"),
    [
        ({"1_short.sql": ""}, "1_short.sql"),
        ({"0001-dash.sql": ""}, "0001-dash.sql"),
        ({"0001_.sql": ""}, "0001_.sql"),
        ({"create_users.sql": ""}, "create_users.sql"),
        ({"0001_notes.txt": ""}, "0001_notes.txt"),
        ({"0001_a.sql": "", "0001_b.sql": ""}, "0001_b.sql"),
        ({"0001_a.sql": "", "0003_c.sql": ""}, "0003_c.sql"),
        ({"0002_first.sql": ""}, "0002_first.sql"),
    ],
)
def test_bad_migration_files_are_refused(
    tmp_path: Path, files: dict[str, str], culprit: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(culprit)):
        discover(write(tmp_path / "m", files))


def test_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        discover(tmp_path / "nope")


async def test_concurrent_upgrades_apply_each_file_once(db_url: str, tmp_path: Path) -> None:
    # Without the lock both would run 0001, and the second CREATE TABLE would fail.
    d = write(
        tmp_path / "m",
        {
            "0001_slow.sql": "SELECT pg_sleep(0.3); CREATE TABLE once_only (id int);",
            "0002_after.sql": "INSERT INTO once_only VALUES (1);",
        },
    )
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        results = await asyncio.gather(upgrade(db_url, d), upgrade(pool, d), upgrade(db_url, d))
    finally:
        await pool.close()
    assert sorted(m.version for applied in results for m in applied) == [1, 2]
    assert len(await fetch(db_url, "SELECT * FROM once_only")) == 1


async def test_an_unreachable_server_is_server_unavailable(tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"0001_t.sql": "SELECT 1;"})
    with pytest.raises(ServerUnavailable, match=re.escape("127.0.0.1:1/x")):
        await upgrade(UNREACHABLE, d)
    with pytest.raises(ServerUnavailable):
        await status(UNREACHABLE, d)


def test_db_cli_upgrade_and_status(db_url: str, tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"0001_t.sql": "CREATE TABLE t (id int);"})
    runner = CliRunner()
    env = {"CHIMERA_DATABASE_URL": db_url}

    before = runner.invoke(db_app, ["status", "--dir", str(d)], env=env)
    assert before.exit_code == 0, before.output
    assert "pending" in before.stdout
    first = runner.invoke(db_app, ["upgrade", "--dir", str(d)], env=env)
    assert first.exit_code == 0, first.output
    assert "applied 0001_t.sql" in first.stdout
    second = runner.invoke(db_app, ["upgrade", "--dir", str(d)], env=env)
    assert "already up to date" in second.stdout
    after = runner.invoke(db_app, ["status", "--dir", str(d)], env=env)
    assert "0001  applied" in after.stdout

    assert runner.invoke(db_app, ["--help"]).exit_code == 0
    for command in ("upgrade", "status"):
        shown = runner.invoke(db_app, [command, "--help"])
        assert shown.exit_code == 0 and "--dir" in shown.stdout


@pytest.mark.parametrize("command", ["upgrade", "status"])
def test_db_cli_unreachable_exits_2_with_one_error_line(command: str, tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"0001_t.sql": "SELECT 1;"})
    result = CliRunner().invoke(
        db_app, [command, "--dir", str(d)], env={"CHIMERA_DATABASE_URL": UNREACHABLE}
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot reach PostgreSQL at " + UNREACHABLE)
    assert lines[1].startswith("hint: ")
    assert result.stdout == ""


def test_db_cli_bad_directory_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        db_app,
        ["upgrade", "--dir", str(tmp_path / "nope")],
        env={"CHIMERA_DATABASE_URL": UNREACHABLE},
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
