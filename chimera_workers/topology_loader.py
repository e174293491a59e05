"""Load ``streams.yaml`` into an ``App``, checking everything and reporting every problem.

``load_app`` parses the file (see ``topology_yaml``), expands ``<SYMBOL>`` from ``symbols:``,
imports payload types and handlers, names dead-letter streams, and checks numbers, crons,
references and Redis Cluster slots. Problems are collected and raised together as one
``TopologyError`` whose lines read ``FILE:LINE:COL: where: message (hint: ...)``.

``import_code=False`` is for tooling that must not run project code (or lacks its
dependencies): every check that needs no import still runs, but payload types become empty
stand-in Structs named like the declared type, decoders accept any JSON, handlers become
stand-ins that raise ``ConfigError`` when called, and ``ordering_key`` is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from cronsim import CronSim, CronSimError
from redis.crc import key_slot

from chimera_workers.connections import SOCKET_TIMEOUT_S
from chimera_workers.topology import (
    SYMBOL_PLACEHOLDER,
    App,
    BindingDecl,
    BindingSpec,
    ConfigSpec,
    ResourceSpec,
    ScheduleSpec,
    StreamDecl,
    StreamSpec,
    dead_letter_name,
)
from chimera_workers.topology_refs import RefResolver
from chimera_workers.topology_yaml import (
    Decoded,
    Loc,
    Problem,
    Source,
    TopologyError,
    close_to,
    decode,
    read_yaml,
)

__all__ = ["Problem", "TopologyError", "load_app"]

SYMBOL = SYMBOL_PLACEHOLDER
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_BAD_SYMBOL = re.compile(r"[\s{}<>]")
# A blocking read must return before the client's socket timeout gives up on it.
MAX_BLOCK_MS = int(SOCKET_TIMEOUT_S * 1000) // 2
_DEFAULTS = {f.name: f.default for f in msgspec.structs.fields(BindingDecl)}
_MINIMUMS = {
    "batch_size": 1,
    "block_ms": 0,
    "concurrency": 1,
    "max_deliveries": 1,
    "retry_backoff_ms": 1,
    "retry_backoff_max_ms": 1,
    "claim_idle_ms": 1,
}


def load_app(path: str | Path, *, import_code: bool = True) -> App:
    """Load and check the topology at ``path``; raise ``TopologyError`` listing every problem.

    With ``import_code=False`` no project module is imported (see the module docstring).
    """
    file = Path(path)
    src = Source(str(file))
    data = read_yaml(file, src)
    decoded = decode(data, src) if data is not None else None
    app = _Resolver(file, src, decoded, import_code).resolve() if decoded else None
    if src.problems or app is None:
        raise TopologyError(src.problems)
    return app


@dataclass
class _Template:
    decl: StreamDecl
    payload: type[msgspec.Struct] | None
    concrete: dict[str, str | None]  # concrete name -> the symbol it was expanded with
    dead: dict[str, str]  # concrete name -> the stream-level dead-letter stream


class _Resolver:
    def __init__(self, file: Path, src: Source, decoded: Decoded, import_code: bool) -> None:
        self.file, self.src, self.decoded = file, src, decoded
        self.decl = decoded.decl
        self.refs = RefResolver(src, import_code)
        self.templates: dict[str, _Template] = {}
        self.dead_letter_uses: list[tuple[str, Loc]] = []

    def resolve(self) -> App:
        if self.decl.version != 1:
            self.src.add(
                ("version",),
                f"unsupported version {self.decl.version}",
                "this Chimera reads `version: 1`",
            )
        seen: dict[str, Loc] = {}
        for i, symbol in enumerate(self.decl.symbols):
            if not symbol or _BAD_SYMBOL.search(symbol):
                self.src.add(
                    ("symbols", i),
                    f"invalid symbol {symbol!r}",
                    "symbols are non-empty, without spaces, braces or angle brackets",
                )
            self._unique(symbol, seen, ("symbols", i), "symbol")
        streams, bindings, schedules = self._streams(), self._bindings(), self._schedules()
        for name, loc in self.dead_letter_uses:
            if name in streams:
                self.src.add(
                    loc,
                    f"dead-letter stream `{name}` is also a declared stream",
                    "dead-letter entries are not payloads; give it its own name",
                )
        migrations = None
        if self.decl.migrations is not None:
            migrations = (self.file.resolve().parent / self.decl.migrations).resolve()
            if not migrations.is_dir():
                self.src.add(
                    ("migrations",),
                    f"directory {migrations} does not exist",
                    "the path is relative to the directory holding this file",
                )
        return App(
            self.file.resolve(),
            tuple(self.decl.symbols),
            streams,
            bindings,
            schedules,
            migrations,
            self._config(),
            self._resources(),
        )

    def _config(self) -> ConfigSpec | None:
        decl = self.decl.config
        if decl is None:
            return None
        loader = self.refs.handler(decl.loader, ("config", "loader"), ("resources",))
        stream = decl.reload_stream
        if not stream or _PLACEHOLDER.search(stream):
            self.src.add(
                ("config", "reload_stream"),
                f"invalid reload stream {stream!r}",
                "name one concrete stream, e.g. `cfg:events`",
            )
            return None
        return ConfigSpec(loader, decl.loader, stream) if loader is not None else None

    def _resources(self) -> tuple[ResourceSpec, ...]:
        out: list[ResourceSpec] = []
        names: dict[str, Loc] = {}
        for i, r in zip(self.decoded.index["resources"], self.decl.resources, strict=True):
            loc: Loc = ("resources", i)
            if not r.name:
                self.src.add((*loc, "name"), "empty resource name", "name the resource")
            unique = self._unique(r.name, names, (*loc, "name"), "resource")
            factory = self.refs.factory(r.factory, (*loc, "factory"))
            if factory is not None and unique and r.name:
                out.append(ResourceSpec(r.name, factory, r.factory))
        return tuple(out)

    def _unique(self, name: str, seen: dict[str, Loc], loc: Loc, what: str) -> bool:
        if name not in seen:
            seen[name] = loc
            return True
        line = self.src.values.get(seen[name], (0, 0))[0]
        self.src.add(
            loc,
            f"duplicate {what} `{name}` (first on line {line})",
            f"give each {what} a distinct name",
        )
        return False

    def _placeholders_ok(self, text: str, loc: Loc, *, symbol_allowed: bool = True) -> bool:
        problems = [
            (
                f"unknown placeholder `{p}` in `{text}`",
                f"only `{SYMBOL}` is expanded (from `symbols:`)",
            )
            for p in sorted(set(_PLACEHOLDER.findall(text)) - {SYMBOL})
        ]
        if SYMBOL in text and not symbol_allowed:
            problems.append(
                (
                    f"`{text}` uses {SYMBOL} but its stream name does not",
                    f"add {SYMBOL} to the stream name too, or remove it here",
                )
            )
        elif SYMBOL in text and not self.decl.symbols:
            problems.append(
                (
                    f"`{text}` uses {SYMBOL} but `symbols:` is empty",
                    "list them at the top level, e.g. `symbols: [BTCUSDT, ETHUSDT]`",
                )
            )
        for message, hint in problems:
            self.src.add(loc, message, hint)
        return not problems

    def _dead_letters(self, explicit: str | None, loc: Loc, tpl: _Template) -> dict[str, str]:
        if explicit is None:
            return {name: dead_letter_name(name) for name in tpl.concrete}
        if not self._placeholders_ok(explicit, loc, symbol_allowed=SYMBOL in tpl.decl.name):
            return {}
        out: dict[str, str] = {}
        for name, symbol in tpl.concrete.items():
            dlq = explicit.replace(SYMBOL, symbol) if symbol else explicit
            want, got = key_slot(name.encode()), key_slot(dlq.encode())
            if want != got:
                self.src.add(
                    loc,
                    f"dead-letter stream `{dlq}` hashes to Redis Cluster slot "
                    f"{got} but `{name}` to {want}",
                    "put the same {hash tag} in both "
                    f"names, e.g. `{dead_letter_name(tpl.decl.name)}`",
                )
                return {}
            out[name] = dlq
        self.dead_letter_uses.extend((dlq, loc) for dlq in sorted(set(out.values())))
        return out

    def _streams(self) -> dict[str, StreamSpec]:
        out: dict[str, StreamSpec] = {}
        seen: dict[str, Loc] = {}
        for i, decl in zip(self.decoded.index["streams"], self.decl.streams, strict=True):
            loc: Loc = ("streams", i)
            if not decl.name:
                self.src.add((*loc, "name"), "empty stream name", "name the stream")
            if not decl.name or not self._unique(decl.name, seen, (*loc, "name"), "stream"):
                continue
            concrete: dict[str, str | None] = {}
            if self._placeholders_ok(decl.name, (*loc, "name")):
                concrete = (
                    {decl.name.replace(SYMBOL, s): s for s in self.decl.symbols}
                    if SYMBOL in decl.name
                    else {decl.name: None}
                )
            tpl = _Template(decl, self.refs.payload(decl.type, (*loc, "type")), concrete, {})
            self.templates[decl.name] = tpl
            retention = decl.retention
            for field in ("maxlen", "max_age_ms", "trim_interval_ms"):
                value = getattr(retention, field)
                if value is not None and value <= 0:
                    self.src.add(
                        (*loc, "retention", field),
                        f"`{field}` must be > 0, got {value}",
                        "use a positive number, or remove it for the default",
                    )
            groups: dict[str, Loc] = {}
            for j, group in enumerate(decl.groups):
                if not group:
                    self.src.add((*loc, "groups", j), "empty group name", "name the group")
                self._unique(group, groups, (*loc, "groups", j), "group")
            tpl.dead = self._dead_letters(decl.dead_letter, (*loc, "dead_letter"), tpl)
            for name in concrete:
                if name in out:
                    self.src.add(
                        (*loc, "name"),
                        f"stream `{name}` is declared twice (also by `{out[name].template}`)",
                        "give each stream a distinct name",
                    )
                elif tpl.payload is not None and name in tpl.dead:
                    out[name] = StreamSpec(
                        name,
                        decl.name,
                        tpl.payload,
                        self.refs.decoder(tpl.payload, decl.type, (*loc, "type")),
                        retention,
                        tpl.dead[name],
                        tuple(decl.groups),
                    )
        return out

    def _bindings(self) -> dict[str, BindingSpec]:
        out: dict[str, BindingSpec] = {}
        names: dict[str, Loc] = {}
        pairs: dict[tuple[str, str], str] = {}
        for i, b in zip(self.decoded.index["bindings"], self.decl.bindings, strict=True):
            loc: Loc = ("bindings", i)
            if not b.name:
                self.src.add((*loc, "name"), "empty binding name", "name the binding")
            unique = self._unique(b.name, names, (*loc, "name"), "binding")
            handler = self.refs.handler(b.handler, (*loc, "handler"), ("event", "ctx"))
            if b.group == "":
                self.src.add((*loc, "group"), "empty group name", "remove `group:` to use the name")
            group = b.group or b.name
            for field, minimum in _MINIMUMS.items():
                if (value := getattr(b, field)) < minimum:
                    self.src.add(
                        (*loc, field),
                        f"`{field}` must be >= {minimum}, got {value}",
                        f"the default is {_DEFAULTS[field]}",
                    )
            if b.block_ms > MAX_BLOCK_MS:
                self.src.add(
                    (*loc, "block_ms"),
                    f"`block_ms` must be <= {MAX_BLOCK_MS}, got {b.block_ms}",
                    "a blocking read must end well within the Redis socket timeout "
                    f"({SOCKET_TIMEOUT_S:.0f}s)",
                )
            if b.retry_backoff_max_ms < b.retry_backoff_ms:
                self.src.add(
                    (*loc, "retry_backoff_max_ms"),
                    f"`retry_backoff_max_ms` "
                    f"({b.retry_backoff_max_ms}) is below `retry_backoff_ms` "
                    f"({b.retry_backoff_ms})",
                    "raise the maximum or lower the base",
                )
            inflight = b.max_inflight or max(2 * b.batch_size, b.concurrency)
            if b.max_inflight is not None and b.max_inflight < b.batch_size:
                self.src.add(
                    (*loc, "max_inflight"),
                    f"`max_inflight` ({b.max_inflight}) is below `batch_size` ({b.batch_size})",
                    "raise it, or remove it for max(2 * batch_size, concurrency)",
                )
            tpl = self.templates.get(b.stream)
            if tpl is None:
                if b.stream not in self.decoded.failed_streams:
                    self.src.add(
                        (*loc, "stream"),
                        f"stream `{b.stream}` is not declared",
                        close_to(b.stream, list(self.templates))
                        or f"declare it under `streams:` (names keep their {SYMBOL})",
                    )
                continue
            first = pairs.setdefault((b.stream, group), b.name)
            if first != b.name:
                self.src.add(
                    (*loc, "group"),
                    f"bindings `{first}` and `{b.name}` both read `{b.stream}` as group `{group}`",
                    "a group splits entries between its readers; set another `group:`",
                )
            if b.ordering_key is not None and tpl.payload is not None:
                self.refs.field(tpl.payload, tpl.decl.type, b.ordering_key, (*loc, "ordering_key"))
            dead = tpl.dead
            if b.dead_letter is not None:
                dead = self._dead_letters(b.dead_letter, (*loc, "dead_letter"), tpl)
            if handler and tpl.payload and unique and len(dead) == len(tpl.concrete):
                out[b.name] = BindingSpec(
                    b.name,
                    group,
                    b.stream,
                    tuple(tpl.concrete),
                    handler,
                    b.handler,
                    tpl.payload,
                    b.batch_size,
                    b.block_ms,
                    b.concurrency,
                    b.ordering_key,
                    b.max_deliveries,
                    b.retry_backoff_ms,
                    b.retry_backoff_max_ms,
                    dead,
                    b.claim_idle_ms,
                    inflight,
                )
        return out

    def _schedules(self) -> dict[str, ScheduleSpec]:
        out: dict[str, ScheduleSpec] = {}
        names: dict[str, Loc] = {}
        for i, s in zip(self.decoded.index["schedules"], self.decl.schedules, strict=True):
            loc: Loc = ("schedules", i)
            if not s.name:
                self.src.add((*loc, "name"), "empty schedule name", "name the schedule")
            unique = self._unique(s.name, names, (*loc, "name"), "schedule")
            handler = self.refs.handler(s.handler, (*loc, "handler"), ("ctx",))
            if (s.interval_ms is None) == (s.cron is None):
                self.src.add(
                    loc,
                    "set exactly one of `interval_ms` or `cron`",
                    'e.g. `interval_ms: 60000` or `cron: "*/5 * * * *"`',
                )
            if s.interval_ms is not None and s.interval_ms <= 0:
                self.src.add(
                    (*loc, "interval_ms"),
                    f"`interval_ms` must be > 0, got {s.interval_ms}",
                    "use a positive number of milliseconds",
                )
            if s.cron is not None:
                try:
                    CronSim(s.cron, datetime.now(UTC))
                except (CronSimError, ValueError) as exc:
                    self.src.add(
                        (*loc, "cron"),
                        f"invalid cron `{s.cron}`: {exc}",
                        "five fields: minute hour day-of-month month day-of-week, "
                        "e.g. `*/5 * * * *` (UTC)",
                    )
            if s.lock_ttl_ms <= 0:
                self.src.add(
                    (*loc, "lock_ttl_ms"),
                    f"`lock_ttl_ms` must be > 0, got {s.lock_ttl_ms}",
                    "use a TTL longer than the job's longest run",
                )
            if handler is not None and unique:
                out[s.name] = ScheduleSpec(
                    s.name, handler, s.handler, s.interval_ms, s.cron, s.lock_ttl_ms
                )
        return out
