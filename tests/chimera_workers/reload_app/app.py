"""Loader, handler and resource factory the reload/resources tests bind in their topology.

The loader reads its config from the Redis hash ``t:cfg`` (fields ``value``, ``rev``,
``fail``), so a test changes "the source of truth" and then announces it on the reload stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from chimera_workers import Context
from chimera_workers.context import Resources
from tests.runner_app.events import Job

CONFIG_KEY = "t:cfg"
RELOAD_STREAM = "t:cfg:events"


@dataclass
class Probe:
    """What the handler and factory observed, per test (reset by ``reset``)."""

    seen: dict[int, tuple[str, int, str]] = field(default_factory=dict)
    gates: dict[int, asyncio.Event] = field(default_factory=dict)
    started: dict[int, asyncio.Event] = field(default_factory=dict)
    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    loads: int = 0


PROBE = Probe()


def reset() -> Probe:
    """Start a test with a fresh probe."""
    global PROBE
    PROBE = Probe()
    return PROBE


async def load(resources: Resources) -> tuple[str, int]:
    """Return ``(value, rev)`` from ``t:cfg``; raise when its ``fail`` field is set."""
    PROBE.loads += 1
    raw = await resources.redis.hgetall(CONFIG_KEY)
    cfg = {k.decode(): v.decode() for k, v in raw.items()}
    if cfg.get("fail"):
        raise RuntimeError(f"config source broken: {cfg['fail']}")
    return cfg.get("value", "initial"), int(cfg.get("rev", "0"))


async def observe(event: Job, ctx: Context) -> None:
    """Record the config this invocation runs on; park on a gate first if the test set one."""
    config = ctx.config  # captured once: the RCU contract
    rev = ctx.config_rev
    if event.seq in PROBE.gates:
        PROBE.started.setdefault(event.seq, asyncio.Event()).set()
        await PROBE.gates[event.seq].wait()
    resource = ctx.resources.extra.get("tag")
    PROBE.seen[event.seq] = (config, rev, getattr(resource, "label", ""))


@dataclass
class Tagged:
    """The object the ``tag`` resource yields."""

    label: str


@asynccontextmanager
async def tag(environ: Mapping[str, str]) -> AsyncIterator[Tagged]:
    """Yield a ``Tagged`` labelled from ``environ``; count entries and exits."""
    label = environ.get("TAG_LABEL", "none")
    PROBE.entered.append(label)
    try:
        yield Tagged(label)
    finally:
        PROBE.exited.append(label)


def not_a_factory(a: Any, b: Any) -> None:
    """A callable with the wrong shape, for the topology check."""


@asynccontextmanager
async def broken(environ: Mapping[str, str]) -> AsyncIterator[None]:
    """A resource whose set-up fails (its venue is unreachable, say)."""
    raise RuntimeError("cannot set up")
    yield
