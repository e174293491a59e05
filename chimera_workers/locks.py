"""A Redis lock with a TTL and fencing tokens.

Every successful ``acquire`` returns a token from an INCR counter that shares the lock's hash
tag, so a later holder always has a larger token than any earlier one. A holder that stalled
past its TTL may still believe it holds the lock; it must pass its token to whatever it
writes (e.g. ``WHERE fence < $token``) so those writes are rejected, and its ``extend`` and
``release`` are refused because they compare the token atomically.

Tokens are monotonic as long as the counter key survives: losing it (FLUSHALL, a failover to
a replica that missed the last INCR) can hand out a token again.
"""

from __future__ import annotations

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.scripts import check_same_slot, run_script


def _check_ttl(ttl_ms: int) -> int:
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
        raise ConfigError(
            f"lock ttl_ms must be a positive integer, got {ttl_ms!r}",
            hint="a lock without expiry is held forever by a crashed worker",
        )
    return ttl_ms


class FencedLock:
    """A TTL lock on ``key`` whose holders get increasing fencing tokens from ``fence_key``."""

    def __init__(
        self, redis: RedisClient, key: str, *, ttl_ms: int, fence_key: str | None = None
    ) -> None:
        self.redis = redis
        self.key = key
        self.fence_key = fence_key if fence_key is not None else f"{key}:fence"
        self.ttl_ms = _check_ttl(ttl_ms)
        check_same_slot([self.key, self.fence_key], what=f"lock {key!r}")

    async def acquire(self, *, ttl_ms: int | None = None) -> int | None:
        """Take the lock for ``ttl_ms`` (default: the lock's TTL); return the token or None."""
        ttl = self.ttl_ms if ttl_ms is None else _check_ttl(ttl_ms)
        token = await run_script(self.redis, "lock_acquire", [self.key, self.fence_key], [ttl])
        return None if token is None else int(token)

    async def extend(self, token: int, *, ttl_ms: int | None = None) -> bool:
        """Reset the TTL to ``ttl_ms`` from now if ``token`` still holds the lock."""
        ttl = self.ttl_ms if ttl_ms is None else _check_ttl(ttl_ms)
        return bool(await run_script(self.redis, "lock_extend", [self.key], [str(token), ttl]))

    async def release(self, token: int) -> bool:
        """Delete the lock if ``token`` still holds it; return whether it did."""
        return bool(await run_script(self.redis, "lock_release", [self.key], [str(token)]))

    async def holder(self) -> int | None:
        """Return the token currently holding the lock, or None when it is free."""
        raw = await self.redis.get(self.key)
        return None if raw is None else int(raw)


__all__ = ["FencedLock"]
