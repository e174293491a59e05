"""Process settings read from the environment (``CHIMERA_*``) into one frozen Struct."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from chimera_workers.cpu_wake import ENV_VAR as CPU_WAKE_ENV
from chimera_workers.cpu_wake import parse_wake_latency


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the servers and the topology are; unset URLs mean "use the embedded servers"."""

    redis_url: str | None = None
    database_url: str | None = None
    state_dir: str = ".chimera"
    streams_file: str = "streams.yaml"
    # None: leave CPU idle states alone (chimera_workers.cpu_wake).
    cpu_wake_latency_us: int | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from the ``CHIMERA_REDIS_URL``, ``CHIMERA_DATABASE_URL``,
        ``CHIMERA_STATE_DIR``, ``CHIMERA_STREAMS`` and ``CHIMERA_CPU_WAKE_LATENCY_US`` variables."""
        env = os.environ if environ is None else environ
        return cls(
            redis_url=env.get("CHIMERA_REDIS_URL") or None,
            database_url=env.get("CHIMERA_DATABASE_URL") or None,
            state_dir=env.get("CHIMERA_STATE_DIR") or ".chimera",
            streams_file=env.get("CHIMERA_STREAMS") or "streams.yaml",
            cpu_wake_latency_us=parse_wake_latency(env.get(CPU_WAKE_ENV)),
        )

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).resolve()
