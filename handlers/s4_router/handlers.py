"""S4's worker bindings: the intent stream ``ord:{intents}`` and the scheduled TWAP tick.

``on_intent`` routes one ``OrderIntent`` (ordering key: ``symbol``); its ``OrderResult``s are
emitted on ``ord:{results}`` with the ack. An intent S4 cannot route (invalid, unsupported, its id
reused for another intent) is answered with a REJECTED result rather than dead-lettered, so its
producer hears about it (S3 releases its risk reservation). An intent whose order is UNKNOWN is
retried after half of ``router.unknown_resend_after_ms``; the retry resolves the order by client
order id first. ``twap_tick`` places due TWAP slices (one worker cluster-wide).

The worker needs the ``s4_router`` resource (``handlers.s4_router.runtime:router_runtime``).
"""

from __future__ import annotations

from typing import Any

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.config.router import RouterConfig
from chimera.domain.orders import OrderIntent, OrderResult, rejection_of
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context
from chimera_workers.errors import ConfigError, Retry
from handlers.s4_router.conditionals import follow_conditionals
from handlers.s4_router.errors import (
    IntentBusy,
    IntentConflict,
    IntentInvalid,
    IntentUnprocessable,
    IntentUnsupported,
)
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import now_ms, runtime_of

_DEFAULT = RouterConfig()


def router_config(config: Any) -> RouterConfig:
    """Return the ``router:`` section of the worker's config (defaults without a bundle)."""
    if isinstance(config, ConfigBundle):
        return config.router
    if isinstance(config, RouterConfig):
        return config
    return _DEFAULT


class EmitSink:
    """Publishes results with the handler's ack (``ctx.emit``)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def publish(self, result: OrderResult) -> None:
        self.ctx.emit(names.ORD_RESULTS, result)


class RedisSink:
    """Publishes results at once (``XADD``), for callers without a delivery to ack."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def publish(self, result: OrderResult) -> None:
        await self.redis.xadd(names.ORD_RESULTS, entry_fields(result))  # type: ignore[arg-type]


def router_for(ctx: Context, sink: EmitSink | RedisSink) -> Router:
    """Return a ``Router`` on the worker's connections, runtime and active config."""
    if ctx.db is None:
        raise ConfigError("S4 needs PostgreSQL", hint="run the worker with a database URL")
    return Router(
        redis=ctx.redis,
        db=ctx.db,
        runtime=runtime_of(ctx.resources.extra),
        config=router_config(ctx.config),
        sink=sink,
    )


async def on_intent(event: OrderIntent, ctx: Context) -> None:
    """Route one intent from ``ord:{intents}``."""
    config = router_config(ctx.config)
    router = router_for(ctx, EmitSink(ctx))
    try:
        outcome = await router.submit(event)
    except IntentBusy as exc:
        raise Retry(str(exc), delay_ms=200) from exc
    except (IntentInvalid, IntentUnsupported, IntentUnprocessable, IntentConflict) as exc:
        ctx.emit(names.ORD_RESULTS, _rejected(event, exc.message))
        return
    if outcome.state == "UNKNOWN":
        raise Retry(
            f"intent {event.intent_id}: an order's outcome is unknown",
            delay_ms=max(100, config.unknown_resend_after_ms // 2),
        )


async def twap_tick(ctx: Context) -> None:
    """Place the TWAP slices that are due."""
    await router_for(ctx, RedisSink(ctx.redis)).twap_tick()


async def conditionals_tick(ctx: Context) -> None:
    """Record the conditional legs the venue triggered (and cancel their pair's other leg)."""
    await follow_conditionals(router_for(ctx, RedisSink(ctx.redis)))


def _rejected(intent: OrderIntent, message: str) -> OrderResult:
    return rejection_of(intent, message, now_ms())


__all__ = [
    "EmitSink",
    "RedisSink",
    "conditionals_tick",
    "on_intent",
    "router_config",
    "router_for",
    "twap_tick",
]
