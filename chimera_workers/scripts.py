"""Run the packaged Lua scripts (``chimera_workers/lua/*.lua``) on standalone Redis or a Cluster.

Each script is read once per process and run with EVALSHA; a server that does not know it
(restart, failover, ``SCRIPT FLUSH``, a Cluster node that never saw it) answers NOSCRIPT and
gets a plain EVAL, which also caches it there. The client routes both commands by the script's
KEYS, so on a Cluster the script runs on the node that owns them. Every call first checks that
all KEYS hash to one slot, so a key layout mistake is a ``ConfigError`` naming the keys on
standalone Redis too, rather than a CROSSSLOT error only once deployed on a Cluster.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.crc import key_slot
from redis.exceptions import NoScriptError

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError

Key = str | bytes
Arg = str | bytes | int | float


@dataclass(frozen=True, slots=True)
class LuaScript:
    """One packaged script: its name (file stem), source text and SHA1 digest."""

    name: str
    source: str
    sha: str


@functools.cache
def load_script(name: str) -> LuaScript:
    """Return the packaged script ``name`` (``lua/<name>.lua``), read once per process."""
    path = resources.files("chimera_workers").joinpath("lua", f"{name}.lua")
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no Lua script named {name!r}", hint=f"known scripts: {', '.join(script_names())}"
        ) from None
    return LuaScript(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())


def script_names() -> list[str]:
    """List the packaged script names."""
    folder = resources.files("chimera_workers").joinpath("lua")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".lua"))


def slot_of(key: Key) -> int:
    """Return the Cluster hash slot of ``key`` (honouring a ``{hash tag}``)."""
    return key_slot(key.encode("utf-8") if isinstance(key, str) else key)


def check_same_slot(keys: Sequence[Key], *, what: str = "script") -> None:
    """Raise ``ConfigError`` naming ``keys`` unless they all hash to one Cluster slot."""
    slots = {slot_of(k) for k in keys}
    if len(slots) <= 1:
        return
    listed = ", ".join(f"{k!r} (slot {slot_of(k)})" for k in keys)
    raise ConfigError(
        f"{what} keys must share one Cluster hash slot, got {listed}",
        hint="give every key the same hash tag, e.g. 'app:{tag}:a' and 'app:{tag}:b'",
    )


async def run_script(
    redis: RedisClient, name: str, keys: Sequence[Key], args: Sequence[Arg] = ()
) -> Any:
    """Run packaged script ``name`` with ``keys`` and ``args``; return its raw reply."""
    script = load_script(name)
    check_same_slot(keys, what=f"Lua script {name!r}")
    try:
        return await redis.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        # EVAL both runs and caches the script on the node owning the keys; SCRIPT LOAD would
        # need a second round trip and, on a Cluster, a broadcast to every primary.
        return await redis.eval(script.source, len(keys), *keys, *args)


class Scripts:
    """The packaged scripts bound to one client: ``await scripts.run(name, keys, args)``."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def run(self, name: str, keys: Sequence[Key], args: Sequence[Arg] = ()) -> Any:
        """Run packaged script ``name`` with ``keys`` and ``args``; return its raw reply."""
        return await run_script(self.redis, name, keys, args)


__all__ = [
    "LuaScript",
    "Scripts",
    "check_same_slot",
    "load_script",
    "run_script",
    "script_names",
    "slot_of",
]
