"""Where S2's per-symbol state lives: in worker memory, persisted to ``feat:{cache}:<symbol>``.

The working copy is in memory (a market event costs no Redis round trip). It is persisted with
every bar and at least every ``persist_interval_ms`` of venue time, as a hash
``{entry_id, state}`` written by a compare-and-set script: the write succeeds only if the stored
``entry_id`` is still the one this worker last loaded or wrote. A second worker that wrote in
between (two processes on one stream, a misconfiguration) makes the CAS fail; the worker then
drops its copy and reloads, instead of overwriting newer state.

A worker that finds no copy in memory (start, restart, after a CAS failure) loads the hash and
re-reads the stream entries after its ``entry_id`` (``catch_up`` in ``handlers``), so the
state resumes exactly where the last persisted write plus the stream leave it.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

import msgspec

from chimera.names import feat_cache_key
from chimera_workers.connections import RedisClient
from handlers.s2_features.state import FeatureCache

_CAS = """
local cur = redis.call('HGET', KEYS[1], 'entry_id')
if (cur or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'entry_id', ARGV[2], 'state', ARGV[3])
return 1
"""

_decode_cache = msgspec.json.Decoder(FeatureCache)
_encoder = msgspec.json.Encoder()

EntryId = tuple[int, int]


def parse_entry_id(entry_id: str) -> EntryId:
    """Return a stream entry id ``"<ms>-<seq>"`` as a comparable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(slots=True)
class Slot:
    """One symbol's working state in this worker; ``lock`` keeps its events in order."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    cache: FeatureCache | None = None
    applied: EntryId = (0, 0)
    stored_entry_id: str = ""  # what the hash held when last loaded or written ("" = absent)


class CasFailed(Exception):
    """The stored state changed under this worker; reload before going on."""


class CacheStore:
    """The symbols' slots of one worker (keyed by its Redis client) and their persistence."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.slots: dict[str, Slot] = {}
        self._cas = redis.register_script(_CAS)

    def slot(self, symbol: str) -> Slot:
        """Return ``symbol``'s slot, creating an empty one."""
        slot = self.slots.get(symbol)
        if slot is None:
            slot = self.slots[symbol] = Slot()
        return slot

    async def load(self, symbol: str) -> tuple[FeatureCache | None, str]:
        """Return the stored state of ``symbol`` and its entry id ("" when there is none)."""
        stored = await self.redis.hmget(feat_cache_key(symbol), ["entry_id", "state"])
        entry_id, state = stored[0], stored[1]
        if entry_id is None or state is None:
            return None, ""
        text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        return _decode_cache.decode(state), text

    async def save(self, slot: Slot, cache: FeatureCache) -> None:
        """Persist ``cache`` if the stored entry id is still ``slot.stored_entry_id``."""
        written = await self._cas(
            keys=[feat_cache_key(cache.symbol)],
            args=[slot.stored_entry_id, cache.entry_id, _encoder.encode(cache)],
        )
        if not written:
            raise CasFailed(f"feat cache of {cache.symbol} changed under this worker")
        slot.stored_entry_id = cache.entry_id


_stores: weakref.WeakKeyDictionary[RedisClient, CacheStore] = weakref.WeakKeyDictionary()


def store_for(redis: RedisClient) -> CacheStore:
    """Return the worker's store: one per Redis client, i.e. per worker process (and per
    in-process test worker, so a "restarted" worker starts with an empty memory)."""
    store = _stores.get(redis)
    if store is None:
        store = _stores[redis] = CacheStore(redis)
    return store


def decode_cache(raw: bytes) -> FeatureCache:
    """Decode a stored state (for tools and tests)."""
    return _decode_cache.decode(raw)
