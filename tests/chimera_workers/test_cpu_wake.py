"""The CPU wake-latency bound: validated settings, the PM QoS request, and a worker holding it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chimera_workers.cli import app
from chimera_workers.cpu_wake import DEVICE, CpuWakeLatency, parse_wake_latency
from chimera_workers.errors import ConfigError
from chimera_workers.settings import Settings
from tests.runner_app.processes import start_worker
from tests.runner_app.topology import write_topology

# Reading the device gives the bound in force (the smallest any process holds), as an s32.
needs_device = pytest.mark.skipif(
    not os.access(DEVICE, os.R_OK | os.W_OK), reason=f"{DEVICE} is not readable and writable"
)


def bound_in_force() -> int:
    with DEVICE.open("rb") as device:
        value: int = struct.unpack("i", device.read(4))[0]
    return value


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("0", 0), (" 20 ", 20)])
def test_parse_accepts_unset_and_whole_microseconds(raw: str | None, expected: int | None) -> None:
    assert parse_wake_latency(raw) == expected


@pytest.mark.parametrize("raw", ["-1", "1.5", "fast", "2000000001", "0x10"])
def test_parse_names_the_variable_and_the_bad_value(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_wake_latency(raw)
    assert f"CHIMERA_CPU_WAKE_LATENCY_US={raw!r}" in caught.value.message
    assert caught.value.hint


def test_settings_read_the_bound_from_the_environment() -> None:
    assert Settings.from_env({}).cpu_wake_latency_us is None
    assert Settings.from_env({"CHIMERA_CPU_WAKE_LATENCY_US": "0"}).cpu_wake_latency_us == 0
    with pytest.raises(ConfigError, match="CHIMERA_CPU_WAKE_LATENCY_US"):
        Settings.from_env({"CHIMERA_CPU_WAKE_LATENCY_US": "soon"})


def test_out_of_range_bound_is_refused() -> None:
    with pytest.raises(ConfigError, match="outside"):
        CpuWakeLatency(-1)


def test_missing_device_runs_without_the_bound_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chimera_workers.cpu_wake")
    with CpuWakeLatency(0, device=tmp_path / "no-such-device") as bound:
        assert not bound.held
    assert "not applied" in caplog.text
    assert "no-such-device" in caplog.text


@needs_device
def test_bound_is_in_force_inside_the_block_only() -> None:
    before = bound_in_force()
    with CpuWakeLatency(7) as bound:
        assert bound.held
        assert bound_in_force() <= 7
    assert not bound.held
    assert bound_in_force() == before


def test_worker_cli_refuses_a_negative_bound(tmp_path: Path, redis_url: str) -> None:
    streams = write_topology(tmp_path)
    runner = CliRunner(env={"CHIMERA_REDIS_URL": redis_url})
    args = ["worker", "--streams", str(streams), "--no-db", "--cpu-wake-latency-us", "-1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--cpu-wake-latency-us" in result.output


def test_worker_cli_refuses_a_bad_environment_value(tmp_path: Path, redis_url: str) -> None:
    streams = write_topology(tmp_path)
    env = {"CHIMERA_REDIS_URL": redis_url, "CHIMERA_CPU_WAKE_LATENCY_US": "fast"}
    result = CliRunner(env=env).invoke(app, ["worker", "--streams", str(streams), "--no-db"])
    assert result.exit_code == 2
    assert "CHIMERA_CPU_WAKE_LATENCY_US='fast'" in result.output


@needs_device
async def test_worker_holds_the_bound_while_it_runs(tmp_path: Path, redis_url: str) -> None:
    before = bound_in_force()
    if before <= 7:
        pytest.skip(f"another process already holds a bound of {before} µs")
    streams = write_topology(tmp_path)
    proc = start_worker(
        streams,
        "wake.1",
        redis_url=redis_url,
        database_url=None,
        log=tmp_path / "w.log",
        extra_env={"CHIMERA_CPU_WAKE_LATENCY_US": "7"},
    )
    try:
        for _ in range(300):
            if bound_in_force() <= 7 or proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert bound_in_force() <= 7, (tmp_path / "w.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, (tmp_path / "w.log").read_text()
    assert bound_in_force() == before  # the request ends with the process
