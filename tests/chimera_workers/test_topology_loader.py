"""``load_app``: a valid topology resolves fully; every kind of mistake is reported with its
line and a hint, and all of a file's mistakes are reported together. No servers needed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest
from redis.crc import key_slot

from chimera_workers.errors import ConfigError
from chimera_workers.topology import dead_letter_name
from chimera_workers.topology_loader import Problem, TopologyError, load_app
from tests.fixtures_app.events import Fill, Trade
from tests.fixtures_app.handlers import on_fill, on_trade, tick

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_app"
EVENTS = "tests.fixtures_app.events"
HANDLERS = "tests.fixtures_app.handlers"


def write(tmp_path: Path, text: str, name: str = "streams.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(TopologyError) as info:
        load_app(write(tmp_path, text))
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# -- a valid file --------------------------------------------------------------------------


def test_valid_file_resolves_expansion_defaults_and_dead_letters() -> None:
    app = load_app(FIXTURES / "valid.yaml")

    assert app.source == (FIXTURES / "valid.yaml").resolve()
    assert app.symbols == ("BTCUSDT", "ETHUSDT")
    assert app.migrations_dir is None
    btc, eth = "mkt:trades:{perp}:BTCUSDT", "mkt:trades:{perp}:ETHUSDT"
    assert set(app.streams) == {btc, eth, "oms:fills"}
    spec = app.stream(btc)
    assert spec.template == "mkt:trades:{perp}:<SYMBOL>"
    assert spec.payload_type is Trade
    assert spec.retention.maxlen == 10_000 and spec.retention.trim_interval_ms == 5_000
    assert spec.extra_groups == ("audit",)
    assert spec.dead_letter == dead_letter_name(btc) == f"{btc}:dlq"
    assert app.stream("oms:fills").dead_letter == "{oms:fills}:failed"

    trades = app.binding("trades")
    assert trades.group == "trades"  # defaults to the binding name
    assert trades.streams == (btc, eth)
    assert trades.handler is on_trade
    assert trades.handler_path == f"{HANDLERS}:on_trade"
    assert trades.payload_type is Trade
    assert trades.ordering_key == "symbol"
    assert (trades.batch_size, trades.block_ms, trades.concurrency) == (50, 1_000, 8)
    assert (trades.max_deliveries, trades.claim_idle_ms) == (5, 30_000)
    assert (trades.retry_backoff_ms, trades.retry_backoff_max_ms) == (200, 10_000)
    assert trades.max_inflight == 100  # max(2 * batch_size, concurrency)
    assert trades.dead_letters == {btc: f"{btc}:dlq", eth: f"{eth}:dlq"}

    mirror = app.binding("trades-mirror")
    assert mirror.group == "mirror"
    assert mirror.dead_letters == {
        btc: "mkt:mirror:{perp}:BTCUSDT:dlq",
        eth: "mkt:mirror:{perp}:ETHUSDT:dlq",
    }
    assert mirror.max_inflight == 200

    fills = app.binding("fills")
    assert fills.handler is on_fill and fills.payload_type is Fill
    assert fills.max_inflight == 400
    assert fills.dead_letters == {"oms:fills": "{oms:fills}:failed"}

    sweep, nightly = app.schedules["sweep"], app.schedules["nightly"]
    assert (sweep.handler, sweep.interval_ms, sweep.cron, sweep.lock_ttl_ms) == (
        tick,
        1000,
        None,
        30_000,
    )
    assert (nightly.interval_ms, nightly.cron, nightly.lock_ttl_ms) == (None, "0 3 * * *", 60_000)


def test_decoders_decode_and_validate_the_payload_type() -> None:
    app = load_app(FIXTURES / "valid.yaml")
    decoder = app.stream("mkt:trades:{perp}:ETHUSDT").decoder
    assert decoder.decode(b'{"symbol": "ETHUSDT", "price": 3, "qty": 2}') == Trade("ETHUSDT", 3, 2)
    with pytest.raises(msgspec.ValidationError):
        decoder.decode(b'{"symbol": "ETHUSDT", "price": "3", "qty": 2}')


def test_default_max_inflight_is_at_least_concurrency(tmp_path: Path) -> None:
    app = load_app(
        write(
            tmp_path,
            f"""
        streams:
          - {{name: "t:jobs", type: "{EVENTS}:Trade"}}
        bindings:
          - {{name: jobs, stream: "t:jobs", handler: "{HANDLERS}:on_trade", batch_size: 10,
              concurrency: 64}}
        """,
        )
    )
    binding = app.binding("jobs")
    assert binding.max_inflight == 64
    assert binding.dead_letters == {"t:jobs": "{t:jobs}:dlq"}
    assert key_slot(b"{t:jobs}:dlq") == key_slot(b"t:jobs")


def test_migrations_resolve_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf" / "sql").mkdir(parents=True)
    path = write(tmp_path / "conf", "migrations: sql\nstreams: []\n")
    assert load_app(path).migrations_dir == (tmp_path / "conf" / "sql").resolve()


def test_missing_migrations_directory(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, "streams: []\nmigrations: nowhere\n"))
    assert (p.line, p.where) == (2, "migrations")
    assert "does not exist" in p.message and "relative to the directory" in (p.hint or "")


async def test_without_importing_code(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        streams:
          - {name: "t:jobs", type: "not.installed.events:Job"}
        bindings:
          - {name: jobs, stream: "t:jobs", handler: "not.installed.handlers:on_job"}
        """,
    )
    with pytest.raises(TopologyError):
        load_app(path)
    app = load_app(path, import_code=False)
    spec = app.stream("t:jobs")
    assert (spec.payload_type.__module__, spec.payload_type.__name__) == (
        "not.installed.events",
        "Job",
    )
    assert spec.decoder.decode(b'{"any": 1}') == {"any": 1}
    with pytest.raises(ConfigError, match="was not imported"):
        await app.binding("jobs").handler(None, None)


# -- every problem, with its line and hint ---------------------------------------------------


def test_yaml_syntax_error_has_the_line(tmp_path: Path) -> None:
    p = only(
        problems_of(
            tmp_path,
            """
        streams:
          - name: "t:jobs"
            type: [unclosed
        bindings: []
        """,
        )
    )
    assert p.line == 4 and "YAML syntax error" in p.message
    assert "indentation" in (p.hint or "")


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    p = only(
        problems_of(
            tmp_path,
            f"""
        streams:
          - name: "t:jobs"
            type: {EVENTS}:Trade
            name: "t:other"
        """,
        )
    )
    assert (p.line, p.column) == (4, 5)
    assert p.message == "duplicate key `name` (first on line 2) in streams[0]"
    assert "keep only the last" in (p.hint or "")


@pytest.mark.parametrize(
    ("text", "line", "message", "hint"),
    [
        ("", 0, "the file is empty", "streams:"),
        ("- a\n- b\n", 1, "must be a mapping", "start the file with `streams:`"),
        ("version: 1\n", 1, "missing `streams:`", "declare them"),
        ("version: 1\nstreams: 5\n", 2, "`streams` must be a list", "one `- name: ...` item"),
        ("version: 2\nstreams: []\n", 1, "unsupported version 2", "version: 1"),
        ("streams: []\nstream: []\n", 2, "unknown field `stream`", "did you mean `streams`?"),
        (
            "streams: []\nsymbols: [A, B, A]\n",
            2,
            "duplicate symbol `A` (first on line 2)",
            "distinct",
        ),
        ("streams: []\nsymbols: [A, 'B C']\n", 2, "invalid symbol 'B C'", "without spaces"),
    ],
)
def test_document_level_problems(
    tmp_path: Path, text: str, line: int, message: str, hint: str
) -> None:
    p = only(problems_of(tmp_path, text))
    assert p.line == line and message in p.message and hint in (p.hint or ""), p


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as info:
        load_app(tmp_path / "absent.yaml")
    p = only(info.value.problems)
    assert p.message == "file not found" and "CHIMERA_STREAMS" in (p.hint or "")
    assert str(p) == f"{tmp_path / 'absent.yaml'}: file not found (hint: {p.hint})"


STREAM = """
version: 1
symbols: [BTCUSDT]
streams:
  - name: "t:jobs"
    type: {type}
    {extra}
"""


@pytest.mark.parametrize(
    ("type_", "extra", "line", "where", "message", "hint"),
    [
        (f"{EVENTS}:Mutable", "", 5, "streams[0].type", "is not frozen", "frozen=True"),
        (
            f"{EVENTS}:NotAStruct",
            "",
            5,
            "streams[0].type",
            "is not a msgspec.Struct class",
            "class NotAStruct(msgspec.Struct, frozen=True)",
        ),
        (
            f"{EVENTS}:Trad",
            "",
            5,
            "streams[0].type",
            "has no attribute `Trad`",
            "did you mean `Trade`?",
        ),
        (
            "tests.fixtures_app.nothing:Trade",
            "",
            5,
            "streams[0].type",
            "no module named `tests.fixtures_app.nothing`",
            "importable",
        ),
        (
            "tests.fixtures_app.broken:Trade",
            "",
            5,
            "streams[0].type",
            "RuntimeError: broken on purpose",
            "fix the error in that module",
        ),
        ("Trade", "", 5, "streams[0].type", "is not `module:name`", "e.g. `"),
        (
            f"{EVENTS}:Trade",
            "retention: {maxlen: 0}",
            6,
            "streams[0].retention.maxlen",
            "`maxlen` must be > 0, got 0",
            "positive",
        ),
        (
            f"{EVENTS}:Trade",
            "retention: {max_age_ms: -5}",
            6,
            "streams[0].retention.max_age_ms",
            "`max_age_ms` must be > 0, got -5",
            "positive",
        ),
        (
            f"{EVENTS}:Trade",
            "retention: {trim_interval_ms: 0}",
            6,
            "streams[0].retention.trim_interval_ms",
            "must be > 0",
            "positive",
        ),
        (
            f"{EVENTS}:Trade",
            "retention: {maxlen: lots}",
            6,
            "streams[0].retention.maxlen",
            "expected `int | null`, got `str`",
            "whole number",
        ),
        (
            f"{EVENTS}:Trade",
            "retention: {max_len: 5}",
            6,
            "streams[0].retention.max_len",
            "unknown field `max_len`",
            "did you mean `maxlen`?",
        ),
        (
            f"{EVENTS}:Trade",
            "groups: [audit, audit]",
            6,
            "streams[0].groups[1]",
            "duplicate group `audit`",
            "distinct",
        ),
        (
            f"{EVENTS}:Trade",
            "dead_letter: other:dlq",
            6,
            "streams[0].dead_letter",
            "hashes to Redis Cluster slot 6563 but `t:jobs` to 11490",
            "same {hash tag}",
        ),
        (
            f"{EVENTS}:Trade",
            "dead_letter: 't:jobs:<SYMBOL>'",
            6,
            "streams[0].dead_letter",
            "uses <SYMBOL> but its stream name does not",
            "add <SYMBOL> to the stream name",
        ),
    ],
)
def test_stream_problems(
    tmp_path: Path, type_: str, extra: str, line: int, where: str, message: str, hint: str
) -> None:
    p = only(problems_of(tmp_path, STREAM.format(type=type_, extra=extra)))
    assert (p.line, p.where) == (line, where), p
    assert message in p.message and hint in (p.hint or ""), p


def test_stream_name_placeholders(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        f"""
        streams:
          - name: "md:{{x}}:<SYMBOL>"
            type: {EVENTS}:Trade
          - name: "md:{{x}}:<VENUE>"
            type: {EVENTS}:Trade
        """,
    )
    empty, unknown = problems
    assert (empty.line, empty.where) == (2, "streams[0].name")
    assert "uses <SYMBOL> but `symbols:` is empty" in empty.message
    assert "symbols: [BTCUSDT" in (empty.hint or "")
    assert (unknown.line, unknown.where) == (4, "streams[1].name")
    assert "unknown placeholder `<VENUE>`" in unknown.message
    assert "only `<SYMBOL>` is expanded" in (unknown.hint or "")


BINDING = f"""
version: 1
streams:
  - name: "t:jobs"
    type: {EVENTS}:Trade
bindings:
  - name: jobs
    stream: "t:jobs"
    handler: {{handler}}
    {{extra}}
"""


@pytest.mark.parametrize(
    ("handler", "extra", "line", "where", "message", "hint"),
    [
        (
            "not_async",
            "",
            8,
            "handler",
            "is not an async function",
            "async def not_async(event, ctx) -> None",
        ),
        ("one_arg", "", 8, "handler", "cannot be called with (event, ctx)", "async def one_arg"),
        ("three_args", "", 8, "handler", "cannot be called with (event, ctx)", "async def"),
        ("on_trad", "", 8, "handler", "has no attribute `on_trad`", "did you mean `on_trade`?"),
        (
            "on_trade",
            "batch_size: 0",
            9,
            "batch_size",
            "`batch_size` must be >= 1, got 0",
            "the default is 100",
        ),
        (
            "on_trade",
            "block_ms: -1",
            9,
            "block_ms",
            "`block_ms` must be >= 0, got -1",
            "the default is 1000",
        ),
        (
            "on_trade",
            "block_ms: 20000",
            9,
            "block_ms",
            "`block_ms` must be <= 15000, got 20000",
            "within the Redis socket timeout (30s)",
        ),
        ("on_trade", "concurrency: 0", 9, "concurrency", "must be >= 1", "the default is 8"),
        ("on_trade", "max_deliveries: 0", 9, "max_deliveries", "must be >= 1", "default is 5"),
        ("on_trade", "claim_idle_ms: 0", 9, "claim_idle_ms", "must be >= 1", "default is 30000"),
        (
            "on_trade",
            "retry_backoff_ms: 0",
            9,
            "retry_backoff_ms",
            "must be >= 1",
            "default is 200",
        ),
        (
            "on_trade",
            "retry_backoff_max_ms: 100",
            9,
            "retry_backoff_max_ms",
            "`retry_backoff_max_ms` (100) is below `retry_backoff_ms` (200)",
            "raise the maximum",
        ),
        (
            "on_trade",
            "max_inflight: 10",
            9,
            "max_inflight",
            "`max_inflight` (10) is below `batch_size` (100)",
            "max(2 * batch_size, concurrency)",
        ),
        (
            "on_trade",
            "ordering_key: prise",
            9,
            "ordering_key",
            f"`{EVENTS}:Trade` has no field `prise`",
            "did you mean `price`?",
        ),
        (
            "on_trade",
            "ordering_key: venue",
            9,
            "ordering_key",
            "has no field `venue`",
            "its fields: symbol, price, qty",
        ),
        ("on_trade", "group: ''", 9, "group", "empty group name", "remove `group:`"),
        (
            "on_trade",
            "batchsize: 10",
            9,
            "batchsize",
            "unknown field `batchsize`",
            "did you mean `batch_size`?",
        ),
        (
            "on_trade",
            "batch_size: ten",
            9,
            "batch_size",
            "expected `int`, got `str`",
            "whole number",
        ),
        (
            "on_trade",
            "concurrency:",
            9,
            "concurrency",
            "expected `int`, got `null`",
            "give it a value",
        ),
        (
            "on_trade",
            "dead_letter: dlq:jobs",
            9,
            "dead_letter",
            "`dlq:jobs` hashes to Redis Cluster slot 3143 but `t:jobs` to 11490",
            "put the same {hash tag} in both names, e.g. `{t:jobs}:dlq`",
        ),
        (
            "on_trade",
            "dead_letter: 't:jobs'",
            9,
            "dead_letter",
            "dead-letter stream `t:jobs` is also a declared stream",
            "its own name",
        ),
    ],
)
def test_binding_problems(
    tmp_path: Path, handler: str, extra: str, line: int, where: str, message: str, hint: str
) -> None:
    text = BINDING.format(handler=f"{HANDLERS}:{handler}", extra=extra)
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.where) == (line, f"bindings[0].{where}"), p
    assert message in p.message and hint in (p.hint or ""), p


def test_binding_on_an_undeclared_stream(tmp_path: Path) -> None:
    p = only(
        problems_of(
            tmp_path,
            f"""
        streams:
          - {{name: "t:jobs", type: "{EVENTS}:Trade"}}
        bindings:
          - name: jobs
            stream: "t:job"
            handler: {HANDLERS}:on_trade
        """,
        )
    )
    assert (p.line, p.column, p.where) == (5, 13, "bindings[0].stream")
    assert p.message == "stream `t:job` is not declared"
    assert p.hint == "did you mean `t:jobs`?"


def test_binding_missing_required_field(tmp_path: Path) -> None:
    p = only(
        problems_of(
            tmp_path,
            f"""
        streams:
          - {{name: "t:jobs", type: "{EVENTS}:Trade"}}
        bindings:
          - name: jobs
            stream: "t:jobs"
        """,
        )
    )
    assert (p.line, p.where) == (4, "bindings[0]")
    assert p.message == "missing required field `handler`" and "handler:" in (p.hint or "")


def test_failed_stream_does_not_cascade_to_its_bindings(tmp_path: Path) -> None:
    p = only(
        problems_of(
            tmp_path,
            f"""
        streams:
          - {{name: "t:jobs", type: "{EVENTS}:Trade", retention: 5}}
        bindings:
          - {{name: jobs, stream: "t:jobs", handler: "{HANDLERS}:on_trade"}}
        """,
        )
    )
    assert (p.line, p.where) == (2, "streams[0].retention")
    assert "expected `object`, got `int`" in p.message and "mapping" in (p.hint or "")


SCHEDULE = f"""
version: 1
streams: []
schedules:
  - name: sweep
    handler: {HANDLERS}:{{handler}}
    {{extra}}
"""


@pytest.mark.parametrize(
    ("handler", "extra", "line", "where", "message", "hint"),
    [
        (
            "tick",
            "lock_ttl_ms: 5000",
            4,
            "",
            "set exactly one of `interval_ms` or `cron`",
            "interval_ms: 60000",
        ),
        ("tick", "{interval_ms: 5, cron: '* * * * *'}", 4, "", "exactly one", "cron"),
        (
            "tick",
            "interval_ms: 0",
            6,
            ".interval_ms",
            "`interval_ms` must be > 0, got 0",
            "positive",
        ),
        (
            "tick",
            "cron: '61 * * * *'",
            6,
            ".cron",
            "invalid cron `61 * * * *`: Bad minute",
            "minute hour day-of-month month day-of-week",
        ),
        (
            "on_trade",
            "interval_ms: 5",
            5,
            ".handler",
            "cannot be called with (ctx)",
            "async def on_trade(ctx) -> None",
        ),
        ("not_async", "interval_ms: 5", 5, ".handler", "is not an async function", "async def"),
    ],
)
def test_schedule_problems(
    tmp_path: Path, handler: str, extra: str, line: int, where: str, message: str, hint: str
) -> None:
    text = SCHEDULE.format(handler=handler, extra=extra)
    if extra.startswith("{"):  # a flow mapping merged into the item
        text = text.replace(f"    {extra}", f"    <<: {extra}")
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.where) == (line, f"schedules[0]{where}"), p
    assert message in p.message and hint in (p.hint or ""), p


def test_schedule_lock_ttl(tmp_path: Path) -> None:
    p = only(
        problems_of(
            tmp_path,
            f"""
        streams: []
        schedules:
          - {{name: sweep, handler: "{HANDLERS}:tick", interval_ms: 5}}
          - name: sweep2
            handler: {HANDLERS}:tick
            cron: "*/5 * * * *"
            lock_ttl_ms: 0
        """,
        )
    )
    assert (p.line, p.where) == (7, "schedules[1].lock_ttl_ms")
    assert "`lock_ttl_ms` must be > 0" in p.message and "TTL" in (p.hint or "")


def test_duplicates(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        f"""
        symbols: [BTC]
        streams:
          - {{name: "md:<SYMBOL>", type: "{EVENTS}:Trade"}}
          - {{name: "md:BTC", type: "{EVENTS}:Trade"}}
          - {{name: "md:<SYMBOL>", type: "{EVENTS}:Trade"}}
        bindings:
          - {{name: a, stream: "md:BTC", handler: "{HANDLERS}:on_trade", group: g}}
          - {{name: b, stream: "md:BTC", handler: "{HANDLERS}:on_trade", group: g}}
          - {{name: a, stream: "md:<SYMBOL>", handler: "{HANDLERS}:on_trade"}}
        schedules:
          - {{name: s, handler: "{HANDLERS}:tick", interval_ms: 5}}
          - {{name: s, handler: "{HANDLERS}:tick", interval_ms: 5}}
        """,
    )
    got = [(p.line, p.where, p.message) for p in problems]
    assert got == [
        (4, "streams[1].name", "stream `md:BTC` is declared twice (also by `md:<SYMBOL>`)"),
        (5, "streams[2].name", "duplicate stream `md:<SYMBOL>` (first on line 3)"),
        (8, "bindings[1].group", "bindings `a` and `b` both read `md:BTC` as group `g`"),
        (9, "bindings[2].name", "duplicate binding `a` (first on line 7)"),
        (12, "schedules[1].name", "duplicate schedule `s` (first on line 11)"),
    ]
    assert all(p.hint for p in problems)


def test_several_problems_are_all_reported_in_file_order() -> None:
    path = FIXTURES / "several_problems.yaml"
    with pytest.raises(TopologyError) as info:
        load_app(path)
    got = [(p.line, p.where) for p in info.value.problems]
    assert got == [
        (6, "streams[0].name"),
        (9, "streams[1].type"),
        (10, "streams[1].retention.maxlen"),
        (15, "bindings[0].handler"),
        (16, "bindings[0].batchsize"),
        (17, "bindings[0].concurrency"),
        (19, "bindings[1].stream"),
        (25, "schedules[0].cron"),
    ]
    text = str(info.value)
    assert text.startswith(f"8 problems in {path}:\n")
    assert (
        f"{path}:16:5: bindings[0].batchsize: unknown field `batchsize` "
        "(hint: did you mean `batch_size`?)"
    ) in text.splitlines()
    assert isinstance(info.value, ConfigError)
