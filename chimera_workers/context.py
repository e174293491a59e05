"""The ``ctx`` every handler receives: resources, the delivery's identity, and buffered emits."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Resources:
    """What every context of one worker shares: built once, referenced by each delivery."""

    app: App
    redis: RedisClient
    db: asyncpg.Pool | None
    metrics: WorkerMetrics | None


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
