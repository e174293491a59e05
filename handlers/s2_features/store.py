"""S2's PostgreSQL writes and reads: ``signals`` rows for feature snapshots."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import msgspec

from chimera.domain.features import FeatureEvent, FeatureSet
from chimera_workers.errors import ConfigError

INSERT_SIGNAL = """
INSERT INTO signals (signal_id, symbol, t0, features, config_rev)
VALUES ($1, $2, $3, $4::jsonb, $5)
ON CONFLICT (signal_id) DO NOTHING
"""

SELECT_SIGNAL = "SELECT t0, features::text, config_rev FROM signals WHERE signal_id = $1"

_encode = msgspec.json.Encoder().encode
_decode_features = msgspec.json.Decoder(FeatureSet)


def require_db(db: asyncpg.Pool | None) -> asyncpg.Pool:
    """Return the worker's pool, or a ConfigError: S2 writes ``signals``."""
    if db is None:
        raise ConfigError(
            "S2 needs PostgreSQL to write signals", hint="start the worker with a database URL"
        )
    return db


async def insert_signal(db: asyncpg.Pool, event: FeatureEvent) -> None:
    """Write ``event`` as a ``signals`` row; an existing row (redelivery) is left as it is."""
    await db.execute(
        INSERT_SIGNAL,
        event.signal_id,
        event.symbol,
        event.t0,
        _encode(event.features).decode(),
        event.config_rev,
    )


async def stored_event(
    db: asyncpg.Pool, signal_id: str, symbol: str, bar_open_time: int, price: Decimal
) -> FeatureEvent | None:
    """Rebuild the feature event of a stored signal (to re-emit it on a redelivery)."""
    row = await db.fetchrow(SELECT_SIGNAL, signal_id)
    if row is None:
        return None
    return FeatureEvent(
        signal_id=signal_id,
        symbol=symbol,
        t0=row["t0"],
        bar_open_time=bar_open_time,
        price=price,
        features=_decode_features.decode(row["features"]),
        config_rev=row["config_rev"],
    )
