"""Hot reload (``config:``) and per-process resources (``resources:``) on a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chimera_workers.cli.streams import app as streams_cli
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.topology import App
from chimera_workers.topology_loader import TopologyError, load_app
from chimera_workers.worker import Worker
from tests.chimera_workers.reload_app import app as probe_app
from tests.chimera_workers.reload_app.app import CONFIG_KEY, RELOAD_STREAM, Probe
from tests.harness.polling import until
from tests.runner_app.events import Job
from tests.runner_app.topology import JOBS, write_topology

MODULE = "tests.chimera_workers.reload_app.app"


def topology(tmp_path: Path, **sections: Any) -> Path:
    """The runner tests' topology with ``observe`` bound, plus ``sections`` at the top level."""
    path = write_topology(tmp_path, handler="record")
    doc = yaml.safe_load(path.read_text())
    doc["bindings"][0]["handler"] = f"{MODULE}:observe"
    doc.update(sections)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def reload_app(tmp_path: Path, **sections: Any) -> App:
    config = {"loader": f"{MODULE}:load", "reload_stream": RELOAD_STREAM}
    return load_app(topology(tmp_path, config=config, **sections))


@pytest.fixture
def probe() -> Probe:
    return probe_app.reset()


async def publish(redis: RedisClient, value: str, rev: int, *, fail: str = "") -> None:
    """Change the source of truth, then announce it (as ``chimera config activate`` does)."""
    await redis.hset(CONFIG_KEY, mapping={"value": value, "rev": rev, "fail": fail})
    await redis.xadd(RELOAD_STREAM, {"rev": str(rev)})


async def start(app: App, redis: RedisClient, **kwargs: Any) -> Worker:
    worker = Worker(app, redis, consumer="w1", shutdown_grace_s=5, **kwargs)
    await worker.start()
    return worker


async def job(redis: RedisClient, seq: int) -> None:
    await redis.xadd(JOBS, entry_fields(Job(seq=seq)))  # type: ignore[arg-type]


async def seen(probe: Probe, seq: int) -> tuple[str, int, str]:
    async def done() -> bool:
        return seq in probe.seen

    await until(done, within=10)
    return probe.seen[seq]


async def test_reload_changes_new_invocations_while_a_running_one_finishes_on_the_old(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    await redis.hset(CONFIG_KEY, mapping={"value": "A", "rev": 1})
    worker = await start(reload_app(tmp_path), redis)
    try:
        assert (worker.config.current, worker.config.rev) == ("A", 1)
        probe.gates[1] = asyncio.Event()
        probe.started[1] = asyncio.Event()
        await job(redis, 1)
        await asyncio.wait_for(probe.started[1].wait(), 10)
        await publish(redis, "B", 2)

        async def reloaded() -> bool:
            return worker.config.rev == 2

        await until(reloaded, within=10)
        await job(redis, 2)
        assert await seen(probe, 2) == ("B", 2, "")
        probe.gates[1].set()
        assert await seen(probe, 1) == ("A", 1, "")
    finally:
        await worker.stop()


async def test_a_failing_loader_keeps_the_old_config_and_heals_later(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    await redis.hset(CONFIG_KEY, mapping={"value": "A", "rev": 1})
    worker = await start(reload_app(tmp_path), redis)
    assert worker.config_follower is not None
    worker.config_follower.retry_ms = 100
    failed = worker.metrics.config_reloads.labels("failed")
    try:
        await publish(redis, "B", 2, fail="database down")

        async def failed_once() -> bool:
            return failed._value.get() >= 1

        await until(failed_once, within=10)
        await job(redis, 1)
        assert await seen(probe, 1) == ("A", 1, "")
        # The source heals without a new announcement: the follower retries on its own.
        await redis.hset(CONFIG_KEY, mapping={"value": "C", "rev": 3, "fail": ""})

        async def healed() -> bool:
            return worker.config.rev == 3

        await until(healed, within=10)
        await job(redis, 2)
        assert await seen(probe, 2) == ("C", 3, "")
        assert worker.failure is None
    finally:
        await worker.stop()


async def test_a_loader_failing_at_start_does_not_stop_the_worker(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    await redis.hset(CONFIG_KEY, mapping={"fail": "not there yet"})
    worker = await start(reload_app(tmp_path), redis)
    assert worker.config_follower is not None
    worker.config_follower.retry_ms = 100
    try:
        assert worker.config.current is None
        await publish(redis, "A", 5)

        async def loaded() -> bool:
            return worker.config.rev == 5

        await until(loaded, within=10)
    finally:
        await worker.stop()


async def test_a_rollback_to_a_lower_rev_is_applied(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    await redis.hset(CONFIG_KEY, mapping={"value": "new", "rev": 7})
    worker = await start(reload_app(tmp_path), redis)
    try:
        await publish(redis, "old", 4)

        async def rolled_back() -> bool:
            return (worker.config.current, worker.config.rev) == ("old", 4)

        await until(rolled_back, within=10)
    finally:
        await worker.stop()


async def test_an_activation_announced_before_start_is_not_needed_and_not_replayed(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    await publish(redis, "A", 1)
    await publish(redis, "B", 2)
    worker = await start(reload_app(tmp_path), redis)
    try:
        assert (worker.config.current, worker.config.rev) == ("B", 2)
        await asyncio.sleep(0.3)
        assert probe.loads == 1  # old announcements are history: loaded once, at start
    finally:
        await worker.stop()


async def test_resources_are_entered_once_per_worker_and_exited_at_stop(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    resources = [{"name": "tag", "factory": f"{MODULE}:tag"}]
    app = load_app(topology(tmp_path, resources=resources))
    first = await start(app, redis, environ={"TAG_LABEL": "one"})
    second = Worker(app, redis, consumer="w2", shutdown_grace_s=5, environ={"TAG_LABEL": "two"})
    await second.start()
    try:
        assert probe.entered == ["one", "two"]
        assert first.context().resources.resource("tag").label == "one"
        for seq in range(20):
            await job(redis, seq)
        labels = {(await seen(probe, seq))[2] for seq in range(20)}
        assert labels <= {"one", "two"} and labels
        assert probe.exited == []
    finally:
        await first.stop()
        await second.stop()
    assert sorted(probe.exited) == ["one", "two"]
    assert probe.entered == ["one", "two"]


async def test_a_failing_factory_exits_the_resources_already_entered(
    tmp_path: Path, redis: RedisClient, probe: Probe
) -> None:
    resources = [
        {"name": "tag", "factory": f"{MODULE}:tag"},
        {"name": "broken", "factory": f"{MODULE}:broken"},
    ]
    app = load_app(topology(tmp_path, resources=resources))
    worker = Worker(app, redis, consumer="w1", shutdown_grace_s=5, environ={"TAG_LABEL": "x"})
    with pytest.raises(RuntimeError, match="cannot set up"):
        await worker.run()
    assert probe.entered == ["x"] and probe.exited == ["x"]


def test_check_reports_bad_config_and_resources_sections(tmp_path: Path) -> None:
    path = topology(
        tmp_path,
        config={"loader": f"{MODULE}:nope", "reload_stream": "cfg:<SYMBOL>"},
        resources=[
            {"name": "tag", "factory": f"{MODULE}:tag"},
            {"name": "tag", "factory": f"{MODULE}:not_a_factory"},
            {"name": "x", "factory": "no.such.module:f", "extra": 1},
        ],
    )
    with pytest.raises(TopologyError) as err:
        load_app(path)
    text = "\n".join(str(p) for p in err.value.problems)
    assert "config.loader: `tests.chimera_workers.reload_app.app` has no attribute `nope`" in text
    assert "config.reload_stream: invalid reload stream 'cfg:<SYMBOL>'" in text
    assert "resources[1].name: duplicate resource `tag`" in text
    assert "resources[1].factory: `tests.chimera_workers.reload_app.app:not_a_factory` cannot" in (
        text
    )
    assert "resources[2].extra: unknown field `extra`" in text
    assert all(p.line > 0 for p in err.value.problems), text


def test_streams_check_shows_the_config_section(tmp_path: Path) -> None:
    config = {"loader": f"{MODULE}:load", "reload_stream": RELOAD_STREAM}
    path = topology(
        tmp_path, config=config, resources=[{"name": "tag", "factory": f"{MODULE}:tag"}]
    )
    result = CliRunner().invoke(streams_cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        f", config from {MODULE}:load (reload on {RELOAD_STREAM}), 1 resources\n"
    )
