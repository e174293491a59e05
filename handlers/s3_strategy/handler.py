"""The ``feat:events:<SYMBOL>`` binding: decide each feature snapshot, emit the outcome.

The decision goes on ``sig:events`` and, when it opens, the entry intent on ``ord:{intents}``;
both are emitted through ``ctx.emit``, so they are written with the ack. A redelivery finds the
stored decision and emits it again (the first emits never happened if the ack did not). Entries
are sized with the venue's filters from the worker's ``s3_instruments`` resource when declared.
"""

from __future__ import annotations

from chimera import names
from chimera.config.bundle import ConfigBundle, worker_bundle
from chimera.domain.features import FeatureEvent
from chimera_workers import Context
from chimera_workers.errors import ConfigError
from handlers.s3_strategy.engine import DecisionEngine
from handlers.s3_strategy.runtime import catalog_of


def _config(ctx: Context) -> tuple[ConfigBundle, int]:
    return worker_bundle(ctx.config, ctx.config_rev, "S3")


async def decide_on_features(event: FeatureEvent, ctx: Context) -> None:
    """Decide ``event`` (or recall the stored decision) and emit the decision and intent."""
    if ctx.db is None:
        raise ConfigError("S3 needs PostgreSQL", hint="run the worker without --no-db")
    config, rev = _config(ctx)  # captured once: the whole decision runs on this revision
    engine = DecisionEngine(ctx.redis, ctx.db, catalog=catalog_of(ctx.resources.extra))
    outcome = await engine.decide(event, config, rev)
    ctx.emit(names.SIG_EVENTS, outcome.decision)
    if outcome.intent is not None:
        ctx.emit(names.ORD_INTENTS, outcome.intent)


__all__ = ["decide_on_features"]
