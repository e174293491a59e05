"""S6's per-position Redis state (B3): the managed stop, the TP steps done, the add-on count.

* ``pos:{sl}:level:<pos_id>`` (HASH): ``stop`` = the managed stop in force (JSON
  ``ManagedStop``), ``pending`` = the replacement being placed. ``pending`` is written *before*
  the new stop is sent, so a crash between sending and recording re-sends the very same intent,
  which S4 recognises (write-ahead intent).
* ``pos:{tp}:ladder:<pos_id>``: how many partial take-profit steps were executed.
* ``pos:{adds}:<pos_id>``: ``add_on_count``.

Absent keys mean level 0 (the entry's own stops), no step done, no add-on.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera import names
from chimera_workers.connections import RedisClient

STATE_TTL_MS = 30 * 86_400_000


class ManagedStop(msgspec.Struct, frozen=True):
    """A stop S6 placed: its ladder level, trigger price, size and S4 intent."""

    level: int
    price: Decimal
    qty: Decimal  # the order's quantity: what was open when it was placed
    covers: Decimal  # the position's opened quantity then (an add-on makes it stale)
    intent_id: str
    gen: int  # the replacement's number; part of the intent id


class PositionState(msgspec.Struct, frozen=True):
    """What S6 recorded about one position."""

    stop: ManagedStop | None = None
    pending: ManagedStop | None = None
    tp_done: int = 0
    adds: int = 0

    @property
    def level(self) -> int:
        """Return the stop level in force (0: the entry's own stops)."""
        return 0 if self.stop is None else self.stop.level


_STOP = msgspec.json.Decoder(ManagedStop)


def _stop(raw: bytes | None) -> ManagedStop | None:
    return None if raw is None else _STOP.decode(raw)


class Recorded(msgspec.Struct, frozen=True):
    """A position's state plus what a quiet pass also needs: the entry's pinned prices, and
    whether it was already reported STAGNATED."""

    state: PositionState
    pinned: bytes | None  # pos:{protection}:<pos_id> ("sl|tp"), None when absent
    stagnation_reported: bool


# pos:{protection}:<pos_id> never changes once written (SET NX), so a process keeps what it read.
_PINNED: dict[str, bytes] = {}
_PINNED_MAX = 100_000


async def read_many(redis: RedisClient, pos_ids: list[str]) -> list[Recorded]:
    """Return what is recorded for each of ``pos_ids``, in one round trip."""
    unpinned = [p for p in pos_ids if p not in _PINNED]
    pipe = redis.pipeline(transaction=False)
    pipe.smembers(names.POS_STAGNATED)
    for pos_id in pos_ids:
        pipe.hmget(names.pos_sl_level_key(pos_id), ["stop", "pending"])
        pipe.get(names.pos_tp_ladder_key(pos_id))
        pipe.get(names.pos_adds_key(pos_id))
    for pos_id in unpinned:
        pipe.get(names.entry_protection_key(pos_id))
    stagnated, *replies = await pipe.execute() if pos_ids else [set()]
    if len(_PINNED) > _PINNED_MAX:
        _PINNED.clear()
    for pos_id, pinned in zip(unpinned, replies[3 * len(pos_ids) :], strict=True):
        if pinned is not None:
            _PINNED[pos_id] = pinned
    out = []
    for i, pos_id in enumerate(pos_ids):
        (stop, pending), tp_done, adds = replies[3 * i : 3 * i + 3]
        state = PositionState(_stop(stop), _stop(pending), int(tp_done or 0), int(adds or 0))
        out.append(Recorded(state, _PINNED.get(pos_id), pos_id.encode() in stagnated))
    return out


async def read_state(redis: RedisClient, pos_id: str) -> PositionState:
    """Return the position's recorded state (all three keys in one round trip)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hmget(names.pos_sl_level_key(pos_id), ["stop", "pending"])
    pipe.get(names.pos_tp_ladder_key(pos_id))
    pipe.get(names.pos_adds_key(pos_id))
    (stop, pending), tp_done, adds = await pipe.execute()
    return PositionState(_stop(stop), _stop(pending), int(tp_done or 0), int(adds or 0))


async def next_gen(redis: RedisClient, pos_id: str) -> int:
    """Return a new replacement number for the position (never reused, even after a refusal)."""
    return int(await redis.hincrby(names.pos_sl_level_key(pos_id), "gen", 1))


async def write_pending(redis: RedisClient, pos_id: str, stop: ManagedStop) -> None:
    """Record the replacement stop about to be sent."""
    key = names.pos_sl_level_key(pos_id)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, "pending", msgspec.json.encode(stop))
    pipe.pexpire(key, STATE_TTL_MS)
    await pipe.execute()


async def commit_stop(redis: RedisClient, pos_id: str, stop: ManagedStop) -> None:
    """Make ``stop`` the managed stop in force and drop the pending record."""
    key = names.pos_sl_level_key(pos_id)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, "stop", msgspec.json.encode(stop))
    pipe.hdel(key, "pending")
    pipe.pexpire(key, STATE_TTL_MS)
    await pipe.execute()


async def drop_pending(redis: RedisClient, pos_id: str) -> None:
    """Forget a replacement the venue refused (the stop in force stays)."""
    await redis.hdel(names.pos_sl_level_key(pos_id), "pending")


async def record_count(redis: RedisClient, key: str, value: int) -> None:
    """Store a step or add-on count (``pos:{tp}:ladder`` / ``pos:{adds}``)."""
    await redis.set(key, value, px=STATE_TTL_MS)


async def forget(redis: RedisClient, pos_id: str) -> None:
    """Delete a closed position's state."""
    await redis.delete(
        names.pos_sl_level_key(pos_id), names.pos_tp_ladder_key(pos_id), names.pos_adds_key(pos_id)
    )


__all__ = [
    "STATE_TTL_MS",
    "ManagedStop",
    "PositionState",
    "Recorded",
    "commit_stop",
    "drop_pending",
    "forget",
    "next_gen",
    "read_many",
    "read_state",
    "record_count",
    "write_pending",
]
