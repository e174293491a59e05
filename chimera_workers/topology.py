"""The shape of ``streams.yaml``: declared Structs, and the resolved form the runner consumes.

``load_app`` (in ``topology_loader``) turns a file into an ``App``: placeholders expanded,
payload types and handlers imported, dead-letter streams named, every problem reported with
its line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

SYMBOL_PLACEHOLDER = "<SYMBOL>"


class Retention(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Trim policy: approximate MAXLEN and/or MINID by age, never below the slowest group."""

    maxlen: int | None = None
    max_age_ms: int | None = None
    trim_interval_ms: int = 5_000


class StreamDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One declared stream (``name`` may hold ``<SYMBOL>``) and its payload type."""

    name: str
    type: str
    retention: Retention = Retention()
    groups: list[str] = []
    dead_letter: str | None = None


class BindingDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bind a declared stream (all its expansions) to a handler ``module:function``."""

    name: str
    stream: str
    handler: str
    group: str | None = None
    batch_size: int = 100
    block_ms: int = 1_000
    concurrency: int = 8
    ordering_key: str | None = None
    max_deliveries: int = 5
    retry_backoff_ms: int = 200
    retry_backoff_max_ms: int = 10_000
    dead_letter: str | None = None
    claim_idle_ms: int = 30_000
    max_inflight: int | None = None


class ScheduleDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A job run on exactly one worker cluster-wide, every ``interval_ms`` or on a ``cron``."""

    name: str
    handler: str
    interval_ms: int | None = None
    cron: str | None = None
    lock_ttl_ms: int = 30_000


class ConfigDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a worker's configuration comes from and which stream announces a new one.

    ``loader`` is an async ``module:function`` taking the worker's ``Resources`` and returning
    ``(config, rev)``; it runs at start and again on every entry of ``reload_stream``.
    """

    loader: str
    reload_stream: str = "cfg:events"


class ResourceDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A per-process resource: ``factory(environ)`` returns an async context manager."""

    name: str
    factory: str


class TopologyDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole ``streams.yaml`` document."""

    streams: list[StreamDecl]
    version: int = 1
    symbols: list[str] = []
    migrations: str | None = None
    bindings: list[BindingDecl] = []
    schedules: list[ScheduleDecl] = []
    config: ConfigDecl | None = None
    resources: list[ResourceDecl] = []


Handler = Callable[[Any, Any], Awaitable[None]]
ScheduledJob = Callable[[Any], Awaitable[None]]
# ``loader(resources) -> (config, rev)``; ``resources`` is the worker's ``context.Resources``.
ConfigLoader = Callable[[Any], Awaitable[tuple[Any, int]]]
# ``factory(environ) -> AsyncContextManager``, entered at worker start and exited at stop.
ResourceFactory = Callable[[Mapping[str, str]], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A concrete stream: its payload type, one reusable decoder and its dead-letter stream."""

    name: str
    template: str
    payload_type: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    retention: Retention
    dead_letter: str
    extra_groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """A binding resolved to concrete streams and an imported handler."""

    name: str
    group: str
    template: str
    streams: tuple[str, ...]
    handler: Handler
    handler_path: str
    payload_type: type[msgspec.Struct]
    batch_size: int
    block_ms: int
    concurrency: int
    ordering_key: str | None
    max_deliveries: int
    retry_backoff_ms: int
    retry_backoff_max_ms: int
    dead_letters: dict[str, str]
    claim_idle_ms: int
    max_inflight: int


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A resolved scheduled job."""

    name: str
    handler: ScheduledJob
    handler_path: str
    interval_ms: int | None
    cron: str | None
    lock_ttl_ms: int


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """The resolved ``config:`` section: the imported loader and the reload stream."""

    loader: ConfigLoader
    loader_path: str
    reload_stream: str


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """A resolved ``resources:`` item: its name and imported factory."""

    name: str
    factory: ResourceFactory
    factory_path: str


@dataclass(frozen=True, slots=True)
class App:
    """Everything ``streams.yaml`` declares, resolved and importable."""

    source: Path
    symbols: tuple[str, ...]
    streams: dict[str, StreamSpec]
    bindings: dict[str, BindingSpec]
    schedules: dict[str, ScheduleSpec]
    migrations_dir: Path | None
    config: ConfigSpec | None = None
    resources: tuple[ResourceSpec, ...] = ()

    def stream(self, name: str) -> StreamSpec:
        """Return the concrete stream ``name`` or raise a ``ConfigError`` listing what exists."""
        from chimera_workers.errors import ConfigError

        try:
            return self.streams[name]
        except KeyError:
            known = ", ".join(sorted(self.streams)) or "none"
            raise ConfigError(
                f"stream {name!r} is not declared in {self.source}",
                hint=f"declared streams: {known}",
            ) from None

    def binding(self, name: str) -> BindingSpec:
        """Return the binding ``name`` or raise a ``ConfigError`` listing what exists."""
        from chimera_workers.errors import ConfigError

        try:
            return self.bindings[name]
        except KeyError:
            known = ", ".join(sorted(self.bindings)) or "none"
            raise ConfigError(
                f"binding {name!r} is not declared in {self.source}", hint=f"bindings: {known}"
            ) from None


def dead_letter_name(stream: str) -> str:
    """Name the default dead-letter stream so it hashes to the same Cluster slot as ``stream``."""
    # Redis hashes only the text between the first "{" and the next "}", if non-empty.
    start = stream.find("{")
    end = stream.find("}", start + 1) if start >= 0 else -1
    if start >= 0 and end > start + 1:
        return f"{stream}:dlq"
    return f"{{{stream}}}:dlq"
