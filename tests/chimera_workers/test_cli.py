"""The operator CLI against a real Redis: enqueue, inspect, dlq, replay, and user errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from chimera_workers.cli import app
from tests.runner_app.topology import DONE, JOBS, write_topology


@pytest.fixture
def cli(redis_url: str, tmp_path: Path) -> Iterator[tuple[CliRunner, Path, redis.Redis]]:
    streams = write_topology(tmp_path)
    client = redis.Redis.from_url(redis_url)
    yield (
        CliRunner(
            env={
                "CHIMERA_REDIS_URL": redis_url,
                "CHIMERA_STREAMS": str(streams),
                "CHIMERA_STATE_DIR": str(tmp_path / "state"),
            }
        ),
        streams,
        client,
    )
    client.close()


def test_enqueue_validates_and_writes(cli: tuple[CliRunner, Path, redis.Redis]) -> None:
    runner, _, client = cli
    result = runner.invoke(
        app, ["enqueue", JOBS, "--json", '{"seq": 1, "key": "a"}', "--count", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "enqueued 5 event(s)" in result.output
    assert client.xlen(JOBS) == 5
    # The declared groups exist from the first write, so retention keeps these for them.
    assert {g["name"] for g in client.xinfo_groups(JOBS)} == {b"jobs"}


def test_enqueue_bad_payload_is_rejected_and_nothing_is_written(
    cli: tuple[CliRunner, Path, redis.Redis], tmp_path: Path
) -> None:
    runner, _, client = cli
    result = runner.invoke(app, ["enqueue", JOBS, "--json", '{"seq": "one"}'])
    assert result.exit_code == 2
    assert "Expected `int`, got `str` - at `$.seq`" in result.output
    lines = [json.dumps({"seq": i}) for i in range(10)] + ['{"seq": 10, "sleep_ms": "x"}']
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["enqueue", JOBS, "--file", str(f)])
    assert result.exit_code == 2
    assert f"{f}:11" in result.output and "$.sleep_ms" in result.output
    result = runner.invoke(app, ["enqueue", JOBS, "--json", "{not json"])
    assert result.exit_code == 2 and "invalid JSON" in result.output
    assert client.exists(JOBS) == 0


def test_enqueue_to_an_undeclared_stream_names_the_declared_ones(
    cli: tuple[CliRunner, Path, redis.Redis],
) -> None:
    runner, _, client = cli
    result = runner.invoke(app, ["enqueue", "t:nope", "--json", '{"seq": 1}'])
    assert result.exit_code == 2
    assert "t:nope" in result.output and JOBS in result.output
    assert client.exists("t:nope") == 0


def test_unreachable_redis_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    streams = write_topology(tmp_path)
    runner = CliRunner(
        env={"CHIMERA_REDIS_URL": "redis://127.0.0.1:1/0", "CHIMERA_STREAMS": str(streams)}
    )
    result = runner.invoke(app, ["inspect"])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0")


def test_bad_topology_and_unknown_handler_exit_2(tmp_path: Path, redis_url: str) -> None:
    streams = write_topology(tmp_path, handler="no_such_handler")
    runner = CliRunner(env={"CHIMERA_REDIS_URL": redis_url})
    result = runner.invoke(app, ["worker", "--streams", str(streams), "--no-db"])
    assert result.exit_code == 2
    assert "no_such_handler" in result.output
    result = runner.invoke(app, ["streams", "check", str(streams)])
    assert result.exit_code == 2
    assert "no_such_handler" in result.output


def test_no_bindings_with_a_binding_is_a_user_error(tmp_path: Path, redis_url: str) -> None:
    streams = write_topology(tmp_path)
    runner = CliRunner(env={"CHIMERA_REDIS_URL": redis_url})
    args = ["worker", "--streams", str(streams), "--no-db", "--no-bindings", "--binding", "jobs"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--no-bindings contradicts --binding" in result.output


def test_inspect_shows_groups_lag_pending_and_dlq(cli: tuple[CliRunner, Path, redis.Redis]) -> None:
    runner, _, client = cli
    runner.invoke(app, ["enqueue", JOBS, "--json", '[{"seq": 1}, {"seq": 2}, {"seq": 3}]'])
    client.xreadgroup("jobs", "c1", {JOBS: ">"}, count=1)
    result = runner.invoke(app, ["inspect", JOBS])
    assert result.exit_code == 0, result.output
    assert "jobs" in result.output and "c1" in result.output
    result = runner.invoke(app, ["inspect"])
    assert result.exit_code == 0 and DONE in result.output


def test_dlq_list_retry_drop(cli: tuple[CliRunner, Path, redis.Redis]) -> None:
    runner, _, client = cli
    dlq = "{t:jobs}:dlq"
    for seq in (1, 2):
        client.xadd(
            dlq,
            {
                "d": json.dumps({"seq": seq}),
                "_source": JOBS,
                "_group": "jobs",
                "_original_id": f"1-{seq}",
                "_handler": "h:f",
                "_error": f"boom {seq}",
                "_traceback": "",
                "_deliveries": "3",
                "_failed_at_ms": "1",
            },
        )
    listed = runner.invoke(app, ["dlq", "list", JOBS])
    assert listed.exit_code == 0 and "boom 1" in listed.output and "boom 2" in listed.output
    first = client.xrange(dlq)[0][0].decode()
    retried = runner.invoke(app, ["dlq", "retry", JOBS, first])
    assert retried.exit_code == 0, retried.output
    assert client.xlen(JOBS) == 1 and json.loads(client.xrange(JOBS)[0][1][b"d"]) == {"seq": 1}
    assert runner.invoke(app, ["dlq", "drop", dlq, "--all"]).exit_code == 0
    assert client.xlen(dlq) == 0
    assert runner.invoke(app, ["dlq", "retry", JOBS]).exit_code == 2


def test_replay_into_a_stream_and_through_a_handler(
    cli: tuple[CliRunner, Path, redis.Redis],
) -> None:
    runner, _, client = cli
    runner.invoke(app, ["enqueue", JOBS, "--json", json.dumps([{"seq": i} for i in range(5)])])
    ids = [eid.decode() for eid, _ in client.xrange(JOBS)]
    dry = runner.invoke(
        app,
        [
            "replay",
            JOBS,
            "--start",
            ids[1],
            "--end",
            ids[3],
            "--handler",
            "tests.runner_app.handlers:record",
            "--dry-run",
        ],
    )
    assert dry.exit_code == 0 and "replayed 3 entries" in dry.output
    assert client.hlen("t:effects") == 0
    done = runner.invoke(
        app,
        [
            "replay",
            JOBS,
            "--start",
            ids[1],
            "--end",
            ids[3],
            "--handler",
            "tests.runner_app.handlers:record_and_emit",
        ],
    )
    assert done.exit_code == 0, done.output
    assert client.hkeys("t:effects") and sorted(client.hkeys("t:effects")) == [b"1", b"2", b"3"]
    assert client.xlen(DONE) == 3
    wrong = runner.invoke(app, ["replay", JOBS, "--into", DONE])
    assert wrong.exit_code == 2 and "carries" in wrong.output
    bad_time = runner.invoke(app, ["replay", JOBS, "--start", "yesterday", "--into", JOBS])
    assert bad_time.exit_code == 2 and "--start" in bad_time.output


def test_replay_refuses_a_corrupt_range_before_writing(
    cli: tuple[CliRunner, Path, redis.Redis],
) -> None:
    runner, _, client = cli
    client.xadd(JOBS, {"d": b'{"seq": 1}'})
    client.xadd(JOBS, {"d": b'{"seq": "bad"}'})
    result = runner.invoke(app, ["replay", JOBS, "--handler", "tests.runner_app.handlers:record"])
    assert result.exit_code == 2 and "$.seq" in result.output
    assert client.hlen("t:effects") == 0


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        ["--help"],
        ["worker", "--help"],
        ["up", "--help"],
        ["enqueue", "--help"],
        ["replay", "--help"],
        ["inspect", "--help"],
        ["dlq", "--help"],
        ["dlq", "retry", "--help"],
        ["streams", "check", "--help"],
        ["services", "--help"],
        ["db", "upgrade", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output
