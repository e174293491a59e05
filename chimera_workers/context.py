"""The ``ctx`` every handler receives: resources, the delivery's identity, and buffered emits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from chimera_workers.codec import encode_payload
from chimera_workers.errors import ConfigError
from chimera_workers.keys import ORIGIN_FIELD

if TYPE_CHECKING:
    import asyncpg

    from chimera_workers.connections import RedisClient
    from chimera_workers.metrics import WorkerMetrics
    from chimera_workers.topology import App

Emit = tuple[str, dict[bytes, bytes]]


class Context:
    """What a handler may use; ``emit`` publishes only if the handler returns normally."""

    __slots__ = (
        "app",
        "config",
        "config_rev",
        "db",
        "delivery_count",
        "emits",
        "entry_id",
        "fields",
        "metrics",
        "redis",
        "stream",
    )

    def __init__(
        self,
        *,
        app: App,
        redis: RedisClient,
        db: asyncpg.Pool | None,
        config: Any,
        config_rev: int,
        metrics: WorkerMetrics | None,
        stream: str | None = None,
        entry_id: str | None = None,
        delivery_count: int = 1,
        fields: dict[bytes, bytes] | None = None,
    ) -> None:
        self.app = app
        self.redis = redis
        self.db = db
        self.config = config
        self.config_rev = config_rev
        self.metrics = metrics
        self.stream = stream
        self.entry_id = entry_id
        self.delivery_count = delivery_count
        self.fields = fields
        self.emits: list[Emit] = []

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
        fields = {b"d": encode_payload(event)}
        if self.entry_id is not None:
            origin = f"{self.stream}/{self.entry_id}/{len(self.emits)}"
            fields[ORIGIN_FIELD] = origin.encode()
        self.emits.append((stream, fields))
