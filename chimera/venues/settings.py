"""Which venue the services trade on, read from ``CHIMERA_VENUE*`` into a frozen Struct."""

from __future__ import annotations

import os
from typing import Literal

import msgspec

from chimera_workers.errors import ConfigError

VenueMode = Literal["live", "paper"]

# The paper venue checks signatures like Binance does; these are its default credentials.
PAPER_API_KEY = "chimera-paper-key"
PAPER_SECRET = "chimera-paper-secret"
DEFAULT_PAPER_URL = "http://127.0.0.1:8765"


class VenueSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Live Binance or the paper venue at ``paper_url``; credentials for signed endpoints."""

    mode: VenueMode = "paper"
    paper_url: str = DEFAULT_PAPER_URL
    api_key: str = PAPER_API_KEY
    secret: str = PAPER_SECRET
    timeout_ms: int = 10_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> VenueSettings:
        """Read ``CHIMERA_VENUE`` (live|paper), ``CHIMERA_PAPER_URL``, ``CHIMERA_API_KEY``,
        ``CHIMERA_API_SECRET`` and ``CHIMERA_VENUE_TIMEOUT_MS``."""
        env = os.environ if environ is None else environ
        mode = env.get("CHIMERA_VENUE", "paper")
        if mode not in ("live", "paper"):
            raise ConfigError(
                f"CHIMERA_VENUE={mode!r} is not a venue mode",
                hint="set CHIMERA_VENUE to 'live' or 'paper'",
            )
        if mode == "live" and not (env.get("CHIMERA_API_KEY") and env.get("CHIMERA_API_SECRET")):
            raise ConfigError(
                "CHIMERA_VENUE=live needs exchange credentials",
                hint="set CHIMERA_API_KEY and CHIMERA_API_SECRET",
            )
        try:
            timeout_ms = int(env.get("CHIMERA_VENUE_TIMEOUT_MS", "10000"))
        except ValueError as exc:
            raise ConfigError(
                "CHIMERA_VENUE_TIMEOUT_MS is not an integer", hint="give milliseconds, e.g. 10000"
            ) from exc
        return cls(
            mode=mode,  # type: ignore[arg-type]
            paper_url=(env.get("CHIMERA_PAPER_URL") or DEFAULT_PAPER_URL).rstrip("/"),
            api_key=env.get("CHIMERA_API_KEY", PAPER_API_KEY),
            secret=env.get("CHIMERA_API_SECRET", PAPER_SECRET),
            timeout_ms=timeout_ms,
        )
