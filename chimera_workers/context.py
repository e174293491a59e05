"""The ``ctx`` every handler receives: resources, the delivery's identity, and buffered emits."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from chimera_workers.codec import encode_payload
from chimera_workers.errors import ConfigError
from chimera_workers.keys import ORIGIN_FIELD, PAYLOAD_FIELD

if TYPE_CHECKING:
    import asyncpg

    from chimera_workers.connections import RedisClient
    from chimera_workers.metrics import WorkerMetrics
    from chimera_workers.topology import App

Emit = tuple[str, dict[bytes, bytes]]

NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
# The entered ``resources:`` of the worker being started. Consumers build their ``Resources``
# themselves, inside ``Worker.start``; the worker sets this variable around that, so each
# consumer picks up its own worker's resources without the consumer knowing about them.
WORKER_EXTRA: ContextVar[Mapping[str, Any]] = ContextVar("chimera_worker_extra", default=NO_EXTRA)


def _current_extra() -> Mapping[str, Any]:
    return WORKER_EXTRA.get()


@dataclass(frozen=True, slots=True)
class Resources:
    """What every context of one worker shares: built once, referenced by each delivery.

    ``extra`` holds the objects the topology's ``resources:`` factories yielded, by name.
    """

    app: App
    redis: RedisClient
    db: asyncpg.Pool | None
    metrics: WorkerMetrics | None
    extra: Mapping[str, Any] = field(default_factory=_current_extra)

    def resource(self, name: str) -> Any:
        """Return the entered resource ``name`` or raise a ``ConfigError`` listing what exists."""
        try:
            return self.extra[name]
        except KeyError:
            known = ", ".join(sorted(self.extra)) or "none"
            raise ConfigError(
                f"no resource named {name!r} in this worker",
                hint=f"declare it under `resources:` in streams.yaml; entered: {known}",
            ) from None


class Context:
    """What a handler may use; ``emit`` publishes only if the handler returns normally.

    One is built per delivery on the hot path, so it holds a reference to the shared
    ``Resources`` and creates its emit buffer only on the first ``emit``.
    """

    __slots__ = (
        "_emits",
        "_raw_id",
        "_res",
        "config",
        "config_rev",
        "delivery_count",
        "fields",
        "stream",
    )

    def __init__(
        self,
        resources: Resources,
        config: Any,
        config_rev: int,
        stream: str | None = None,
        entry_id: bytes | None = None,
        delivery_count: int = 1,
        fields: dict[bytes, bytes] | None = None,
    ) -> None:
        self._res = resources
        self.config = config
        self.config_rev = config_rev
        self.stream = stream
        self._raw_id = entry_id
        self.delivery_count = delivery_count
        self.fields = fields
        self._emits: list[Emit] | None = None

    @property
    def app(self) -> App:
        return self._res.app

    @property
    def resources(self) -> Resources:
        """The worker's shared resources (``resources.extra[name]``: declared resources)."""
        return self._res

    @property
    def redis(self) -> RedisClient:
        return self._res.redis

    @property
    def db(self) -> asyncpg.Pool | None:
        return self._res.db

    @property
    def metrics(self) -> WorkerMetrics | None:
        return self._res.metrics

    @property
    def entry_id(self) -> str | None:
        """The stream entry id being handled, or None outside a delivery."""
        return None if self._raw_id is None else self._raw_id.decode()

    @property
    def emits(self) -> list[Emit]:
        """The entries queued by ``emit`` so far."""
        return self._emits or []

    @property
    def idempotency_key(self) -> str:
        """Return a key that is the same on every redelivery of this event, even re-emitted ones.

        An entry emitted by another handler carries its origin (source stream, entry id,
        position), so a duplicate emit after a crash maps to the same key as the original.
        """
        if self.fields is not None and ORIGIN_FIELD in self.fields:
            return self.fields[ORIGIN_FIELD].decode()
        return f"{self.stream}/{self.entry_id}"

    def emit(self, stream: str, event: msgspec.Struct) -> None:
        """Queue ``event`` for ``stream``: written with the ack, only if the handler succeeds."""
        spec = self.app.stream(stream)
        if type(event) is not spec.payload_type:
            raise ConfigError(
                f"emit to {stream!r}: got {type(event).__name__}, "
                f"the stream carries {spec.payload_type.__name__}",
                hint="emit the type declared for the stream in streams.yaml",
            )
        if self._emits is None:
            self._emits = []
        fields = {PAYLOAD_FIELD: encode_payload(event)}
        if self._raw_id is not None:
            origin = f"{self.stream}/{self.entry_id}/{len(self._emits)}"
            fields[ORIGIN_FIELD] = origin.encode()
        self._emits.append((stream, fields))
