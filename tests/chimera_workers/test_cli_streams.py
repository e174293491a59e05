"""``chimera streams check|list`` on the fixture topologies: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chimera_workers.cli.streams import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_app"
VALID = FIXTURES / "valid.yaml"
BROKEN = FIXTURES / "several_problems.yaml"

runner = CliRunner()


def test_check_valid_file() -> None:
    result = runner.invoke(app, ["check", str(VALID)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "OK: 2 streams (3 concrete), 3 bindings, 2 schedules\n"


def test_check_prints_every_problem_and_exits_2() -> None:
    result = runner.invoke(app, ["check", str(BROKEN)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 8
    assert all(line.startswith(f"{BROKEN}:") and "(hint: " in line for line in lines)
    assert (
        f"{BROKEN}:16:5: bindings[0].batchsize: unknown field `batchsize` "
        "(hint: did you mean `batch_size`?)"
    ) in lines
    assert lines[-1].startswith(f"{BROKEN}:25:11: schedules[0].cron: invalid cron")


def test_check_missing_file_is_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["check", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{missing}: file not found (hint: pass the path to streams.yaml or set CHIMERA_STREAMS)"
    ]


def test_check_defaults_to_chimera_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_STREAMS", str(VALID))
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 2 streams")


def test_check_defaults_to_streams_yaml_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHIMERA_STREAMS", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2
    assert result.stderr.startswith("streams.yaml: file not found")
    (tmp_path / "streams.yaml").write_text("streams: []\n")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "OK: 0 streams (0 concrete), 0 bindings, 0 schedules\n"


def test_check_without_importing_code(tmp_path: Path) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text('streams:\n  - {name: "t:jobs", type: "not.installed:Job"}\n')
    assert runner.invoke(app, ["check", str(path)]).exit_code == 2
    result = runner.invoke(app, ["check", "--no-import", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 1 streams (1 concrete)")


def test_list_shows_streams_types_bindings_and_dead_letters() -> None:
    result = runner.invoke(app, ["list", str(VALID)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    btc = "mkt:trades:{perp}:BTCUSDT"
    assert f"{btc}  tests.fixtures_app.events:Trade\n  dead letter: {btc}:dlq\n" in out
    assert "  retention:   maxlen=10000 max_age_ms=60000, trimmed every 5000 ms\n" in out
    assert "  groups:      audit\n" in out
    assert (
        "  binding trades: group trades -> tests.fixtures_app.handlers:on_trade "
        "(batch 50, concurrency 8)\n"
    ) in out
    assert "dead letter mkt:mirror:{perp}:BTCUSDT:dlq)" in out
    assert "oms:fills  tests.fixtures_app.events:Fill\n  dead letter: {oms:fills}:failed\n" in out
    assert "schedule nightly: cron '0 3 * * *' -> tests.fixtures_app.handlers:tick\n" in out
    assert "schedule sweep: every 1000 ms -> tests.fixtures_app.handlers:tick\n" in out


def test_list_with_problems_exits_2() -> None:
    result = runner.invoke(app, ["list", str(BROKEN)])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 8
