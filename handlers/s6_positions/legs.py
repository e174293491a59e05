"""The ended legs of an entry, as S6 first saw them (``pos:{legs}:<entry intent>``).

One hash per entry: field = S4's leg (``mk``, ``mm``, ``mt``, ``s<i>``, ``x``), value =
``filled_qty|ts_ms|config_rev`` of the leg's final result. The first value written wins
(``HSETNX``), so a redelivered result rebuilds the very same protective intents even after a
config activation, and S6 can tell when every leg of an entry (every TWAP slice) has ended and
whether any of them filled.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal

import msgspec

from chimera import names
from chimera_workers.connections import RedisClient

log = logging.getLogger(__name__)

LEGS_TTL_MS = 7 * 86_400_000
_SLICE = re.compile(r"^s[0-9]+$")


class LegOutcome(msgspec.Struct, frozen=True):
    """How one leg of an entry ended: its filled quantity, when, under which config revision."""

    filled_qty: Decimal
    ts_ms: int
    config_rev: int

    def encode(self) -> str:
        """Return the hash value of this outcome."""
        return f"{self.filled_qty}|{self.ts_ms}|{self.config_rev}"

    @classmethod
    def decode(cls, raw: bytes | str) -> LegOutcome:
        """Parse a hash value written by ``encode``."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        qty, ts_ms, rev = text.split("|")
        return cls(Decimal(qty), int(ts_ms), int(rev))


def is_slice(leg: str) -> bool:
    """Tell whether ``leg`` is a TWAP slice (``s<i>``)."""
    return bool(_SLICE.match(leg))


async def record_leg(
    redis: RedisClient, entry_intent_id: str, leg: str, outcome: LegOutcome
) -> LegOutcome:
    """Store ``outcome`` for ``leg`` unless one is stored; return the stored one."""
    key = names.entry_legs_key(entry_intent_id)
    pipe = redis.pipeline(transaction=False)
    pipe.hsetnx(key, leg, outcome.encode())
    pipe.hget(key, leg)
    pipe.pexpire(key, LEGS_TTL_MS)
    _, stored, _ = await pipe.execute()
    if stored is None:
        return outcome
    kept = LegOutcome.decode(stored)
    if kept.filled_qty <= 0 < outcome.filled_qty:
        # Recorded as ended empty, now reported filled: an empty record produced no intents,
        # so the fill replaces it (the fill must be protected, whatever was recorded first).
        log.warning("leg %s of %s was recorded empty, now filled", leg, entry_intent_id)
        await redis.hset(key, leg, outcome.encode())
        return outcome
    return kept


async def ended_legs(redis: RedisClient, entry_intent_id: str) -> dict[str, LegOutcome]:
    """Return every recorded leg of the entry with its outcome."""
    raw = await redis.hgetall(names.entry_legs_key(entry_intent_id))
    return {
        leg.decode() if isinstance(leg, bytes) else leg: LegOutcome.decode(value)
        for leg, value in raw.items()
    }


__all__ = ["LEGS_TTL_MS", "LegOutcome", "ended_legs", "is_slice", "record_leg"]
