"""A Redis lock with a TTL and fencing tokens.

Every successful ``acquire`` returns a token from an INCR counter that shares the lock's hash
tag, so a later holder always has a larger token than any earlier one. A holder that stalled
past its TTL may still believe it holds the lock; it must pass its token to whatever it
writes (e.g. ``WHERE fence < $token``) so those writes are rejected, and its ``extend`` and
``release`` are refused because they compare the token atomically.

Tokens are monotonic as long as the counter key survives: losing it (FLUSHALL, a failover to
a replica that missed the last INCR) can hand out a token again.

``kept`` separates the two jobs of a TTL: the TTL is a short lease, renewed while the holder's
process lives, so a SIGKILLed holder frees the lock within one TTL; ``hold_ms`` bounds how
long a live but hung holder can keep it. ``FencedLock.leased`` builds such a lock and ``held``
keeps it for a block, then releases it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError, cancel_and_wait, raise_if_cancelling
from chimera_workers.scripts import check_same_slot, run_script

log = logging.getLogger(__name__)

# A holder renewing its lease every third of it (``FencedLock.kept``) frees the lock this soon
# after it dies.
DEFAULT_LEASE_MS = 5_000


def lease_for(hold_ms: int) -> int:
    """Return the lease of a lock that may be held ``hold_ms`` at most."""
    return min(DEFAULT_LEASE_MS, _check_ttl(hold_ms))


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
        self,
        redis: RedisClient,
        key: str,
        *,
        ttl_ms: int,
        fence_key: str | None = None,
        hold_ms: int | None = None,
    ) -> None:
        self.redis = redis
        self.key = key
        self.fence_key = fence_key if fence_key is not None else f"{key}:fence"
        self.ttl_ms = _check_ttl(ttl_ms)
        # How long ``kept``/``held`` renew at most (None: until the block ends).
        self.hold_ms = None if hold_ms is None else _check_ttl(hold_ms)
        check_same_slot([self.key, self.fence_key], what=f"lock {key!r}")

    @classmethod
    def leased(
        cls,
        redis: RedisClient,
        key: str,
        *,
        hold_ms: int,
        lease_ms: int = DEFAULT_LEASE_MS,
        fence_key: str | None = None,
    ) -> FencedLock:
        """Return a lock taken on a lease of ``lease_ms`` (at most ``hold_ms``) that ``held``
        renews for at most ``hold_ms``."""
        ttl = min(_check_ttl(lease_ms), _check_ttl(hold_ms))
        return cls(redis, key, ttl_ms=ttl, fence_key=fence_key, hold_ms=hold_ms)

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

    @asynccontextmanager
    async def kept(self, token: int, *, up_to_ms: int | None = None) -> AsyncIterator[None]:
        """Renew ``token``'s hold every third of the TTL while the body runs.

        Renewal stops ``up_to_ms`` (default: the lock's ``hold_ms``) after entering, or when the
        body ends; the lock then expires one TTL later unless released. The body is not
        interrupted if the hold is lost: fencing tokens guard its writes.
        """
        limit = self.hold_ms if up_to_ms is None else up_to_ms
        renewal = asyncio.create_task(self._renew(token, limit))
        try:
            yield
        finally:
            await cancel_and_wait([renewal])

    @asynccontextmanager
    async def held(self, token: int) -> AsyncIterator[None]:
        """Keep ``token``'s hold renewed while the body runs (``kept``), then release it."""
        try:
            async with self.kept(token):
                yield
        finally:
            await self.release(token)

    async def _renew(self, token: int, up_to_ms: int | None) -> None:
        loop = asyncio.get_running_loop()
        stop_at = None if up_to_ms is None else loop.time() + up_to_ms / 1000
        period = self.ttl_ms / 3000
        while stop_at is None or loop.time() + period < stop_at:
            await asyncio.sleep(period)
            try:
                if not await self.extend(token):
                    log.warning(
                        "lock %r: token %d lost its hold before the work ended", self.key, token
                    )
                    return
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # Keep renewing through a Redis blip: the lease outlasts a few periods.
                raise_if_cancelling()
                log.warning("lock %r: renewal failed (%s); retrying", self.key, exc)

    async def holder(self) -> int | None:
        """Return the token currently holding the lock, or None when it is free."""
        raw = await self.redis.get(self.key)
        return None if raw is None else int(raw)


__all__ = ["DEFAULT_LEASE_MS", "FencedLock", "lease_for"]
