"""Idempotency keys: the first caller to claim a key does the work, later callers get its result.

A claim is a small hash holding ``state`` (``pending`` or ``done``), ``owner`` and, once
done, ``result``. A pending claim expires after its TTL, so the work of an owner that died is
picked up by the next caller; pick a TTL longer than the work normally takes. Each key is
one Redis key, so any key name works on a Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.scripts import run_script

ClaimState = Literal["pending", "done"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of ``claim``: whether the caller now owns the work, and the stored state."""

    acquired: bool
    state: ClaimState
    owner: str
    result: bytes | None = None


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _check_ttl(ttl_ms: int) -> None:
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
        raise ConfigError(f"idempotency ttl_ms must be a positive integer, got {ttl_ms!r}")


async def claim(redis: RedisClient, key: str, owner: str, ttl_ms: int) -> Claim:
    """Claim ``key`` for ``owner`` for ``ttl_ms``; the same owner may re-claim to refresh it."""
    _check_ttl(ttl_ms)
    reply = await run_script(redis, "idem_claim", [key], [owner, ttl_ms])
    state = _text(reply[1])
    result: bytes | None = None
    if state == "done":
        raw = reply[3]
        result = raw.encode() if isinstance(raw, str) else raw
    return Claim(bool(reply[0]), "done" if state == "done" else "pending", _text(reply[2]), result)


async def complete(redis: RedisClient, key: str, owner: str, result: bytes, ttl_ms: int) -> bool:
    """Store ``result`` for ``key`` if ``owner`` holds its claim; keep it for ``ttl_ms``.

    Return False when the claim expired or belongs to someone else (the result is then not
    stored). Completing twice keeps the first result.
    """
    _check_ttl(ttl_ms)
    return bool(await run_script(redis, "idem_complete", [key], [owner, result, ttl_ms]))


async def abandon(redis: RedisClient, key: str, owner: str) -> bool:
    """Drop ``owner``'s pending claim on ``key`` so another caller can claim it without waiting."""
    return bool(await run_script(redis, "idem_abandon", [key], [owner]))


__all__ = ["Claim", "ClaimState", "abandon", "claim", "complete"]
