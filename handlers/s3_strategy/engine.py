"""The decision on one feature snapshot: L0 gates, L1 rules, L2 model, sizing, risk reservation.

``DecisionEngine.decide`` is idempotent by ``signal_id``: a signal already decided returns the
stored decision (``fresh=False``) and nothing is decided twice. Gates run in this order, the
first that refuses names the reason: KILL_SWITCH, RECONCILE_GATE (no reconcile pass since the
latest worker start: ``handlers.s5_reconciler.gate``), DISABLED, OUTSIDE_WINDOW, HEALTH, the
rules' skip (their reason, else RULE_SKIP), MODEL_UNAVAILABLE, LOW_EDGE, SPOT_NO_SHORT, NO_SHORTS,
SIZE_TOO_SMALL / BELOW_MIN_QTY / BELOW_MIN_NOTIONAL, RISK_BUDGET. The risk reservation is L0's,
but it is taken last, because its amount is the margin of the final (filter-rounded) size, and a
signal skipped for another reason should not hold budget even for a moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import msgspec

from chimera.config.bundle import ConfigBundle
from chimera.config.store import load_rev
from chimera.config.strategy import StrategyConfig
from chimera.domain import signals as reasons
from chimera.domain.features import FeatureEvent
from chimera.domain.orders import OrderIntent
from chimera.domain.signals import RECONCILE_GATE, SPOT_NO_SHORT, Decision, entry_intent_id
from chimera.risk import RiskLedger
from chimera.venues.instruments import InstrumentCatalog
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from handlers.s3_strategy.gates import Situation, read_situation, window_open
from handlers.s3_strategy.intents import intent_of
from handlers.s3_strategy.model import Model, build_model, run_model
from handlers.s3_strategy.rules_step import CompiledRules, rule_env, skip_reason
from handlers.s3_strategy.signals_store import save_decision, stored_decision
from handlers.s3_strategy.sizing import (
    cap_size_mult,
    direction,
    margin_of,
    model_size_mult,
    size_entry,
)


@dataclass(frozen=True, slots=True)
class Compiled:
    """What one strategy config compiles to: its rules and its model."""

    strategy: StrategyConfig
    rules: CompiledRules
    model: Model


class CompiledCache:
    """Compile each config object once (a reload builds a new object: RCU)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: list[Compiled] = []

    def get(self, strategy: StrategyConfig) -> Compiled:
        """Return the compiled form of ``strategy`` (by identity), compiling it the first time."""
        for entry in self._entries:
            if entry.strategy is strategy:
                return entry
        entry = Compiled(
            strategy, CompiledRules.compile(strategy.rules), build_model(strategy.model)
        )
        self._entries = [entry, *self._entries][: self.size]
        return entry


COMPILED = CompiledCache()


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision, the entry intent it implies (if ``open``), and whether it was made now."""

    decision: Decision
    intent: OrderIntent | None
    fresh: bool


def now_ms() -> int:
    """Return the wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class DecisionEngine:
    """Decide signals against Redis (gates, risk) and PostgreSQL (``signals``).

    ``catalog``: the venue's instrument filters for sizing; None sizes on the config's
    ``qty_step`` alone (as when the venue cannot be reached).
    """

    def __init__(
        self,
        redis: RedisClient,
        db: asyncpg.Pool,
        cache: CompiledCache = COMPILED,
        *,
        catalog: InstrumentCatalog | None = None,
    ) -> None:
        self.redis = redis
        self.db = db
        self.cache = cache
        self.catalog = catalog

    async def decide(self, event: FeatureEvent, config: ConfigBundle, rev: int) -> Outcome:
        """Return the decision on ``event``: the stored one, or a new one stored now."""
        stored = await stored_decision(self.db, event.signal_id)
        if stored is not None:
            origin = await self._config_of(stored, config, rev)
            return Outcome(stored, intent_of(stored, event, origin), fresh=False)
        situation = await read_situation(self.redis, event.symbol)
        compiled = self.cache.get(config.strategy)
        draft = await evaluate(event, config, rev, situation, compiled, self.catalog)
        ledger = RiskLedger(self.redis, tombstone_ttl_ms=config.risk.tombstone_ttl_ms)
        if draft.action == "open":
            assert draft.margin_usdt is not None
            held = await ledger.reserve(
                event.signal_id, event.symbol, draft.margin_usdt, config.risk
            )
            if not held.ok:
                draft = _skip_risk(draft, held.refused_by)
        decision = await save_decision(self.db, event, draft)
        if decision.action != "open":
            # The signal is a skip for good, so nothing may stay reserved for it: a first
            # attempt that reserved and crashed before storing, or this attempt losing a race
            # to a concurrent delivery that skipped. (One HGET when nothing is held.)
            await ledger.release(event.signal_id, event.symbol)
        fresh = decision is draft
        origin = config if fresh else await self._config_of(decision, config, rev)
        return Outcome(decision, intent_of(decision, event, origin), fresh=fresh)

    async def _config_of(self, decision: Decision, config: ConfigBundle, rev: int) -> ConfigBundle:
        """Return the revision ``decision`` was made under, so its intent is rebuilt unchanged.

        Only an ``open`` decided under another revision than the current one needs a lookup;
        the bundle file (revision 0) or a revision that no longer loads falls back to ``config``.
        """
        if decision.action != "open" or decision.config_rev in (rev, 0):
            return config
        try:
            return await load_rev(self.db, decision.config_rev)
        except ConfigError:
            return config


def _skip_risk(draft: Decision, refused_by: str | None) -> Decision:
    return msgspec.structs.replace(
        draft,
        action="skip",
        reason=reasons.RISK_BUDGET,
        intent_id=None,
        rules_fired=(*draft.rules_fired, f"risk:{(refused_by or 'BUDGET').lower()}"),
    )


async def evaluate(
    event: FeatureEvent,
    config: ConfigBundle,
    rev: int,
    situation: Situation,
    compiled: Compiled,
    catalog: InstrumentCatalog | None = None,
) -> Decision:
    """Run L0 (but the reservation), L1 and L2 on ``event``: an ``open`` draft or a ``skip``."""
    strategy = config.strategy
    base = Decision(
        signal_id=event.signal_id,
        symbol=event.symbol,
        action="skip",
        reason="",
        config_rev=rev,
        t0=event.t0,
        ts_ms=now_ms(),
        price=event.price,
    )

    def skip(reason: str, **fields: object) -> Decision:
        return msgspec.structs.replace(base, reason=reason, **fields)

    if situation.kill_switch.on:
        return skip(reasons.KILL_SWITCH)
    if not situation.reconciled:
        return skip(RECONCILE_GATE)
    if not strategy.enabled or (strategy.symbols and event.symbol not in strategy.symbols):
        return skip(reasons.DISABLED)
    if not window_open(strategy.windows, event.t0):
        return skip(reasons.OUTSIDE_WINDOW)
    base = msgspec.structs.replace(base, health=situation.health)
    health_mult = strategy.health_size_mult.get(situation.health, Decimal(0))
    if health_mult <= 0:
        return skip(reasons.HEALTH)

    env = rule_env(
        event,
        regime=situation.regime,
        health=situation.health,
        funding_rate=situation.funding_rate,
    )
    outcome = compiled.rules.evaluate(env)
    rules_mult, tp_mult, sl_mult = Decimal(1), Decimal(1), Decimal(1)
    max_adds: int | None = None
    fired: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if outcome is not None:
        rules_mult, tp_mult, sl_mult = outcome.size_mult, outcome.tp_mult, outcome.sl_mult
        max_adds, fired, notes = outcome.max_adds_override, outcome.fired, outcome.reasons
        if outcome.skip_entry:
            reason = skip_reason(outcome) or reasons.RULE_SKIP
            return skip(reason, rules_fired=fired, rule_reasons=notes)
    ruled = msgspec.structs.replace(
        base,
        tp_mult=tp_mult,
        sl_mult=sl_mult,
        max_adds_override=max_adds,
        rules_fired=fired,
        rule_reasons=notes,
    )

    answer = await run_model(compiled.model, env, strategy.model)
    if answer.p is None:
        return msgspec.structs.replace(ruled, reason=reasons.MODEL_UNAVAILABLE)
    modelled = msgspec.structs.replace(ruled, model_p=answer.p, model_fallback=answer.fallback)
    model_mult = model_size_mult(answer.p, strategy.sizing)
    if model_mult is None:
        return msgspec.structs.replace(modelled, reason=reasons.LOW_EDGE)
    side = direction(answer.p)
    market = strategy.entry_market
    if side == "sell" and market == "SPOT":
        return msgspec.structs.replace(modelled, reason=SPOT_NO_SHORT, side=side)
    if side == "sell" and not strategy.allow_short:
        return msgspec.structs.replace(modelled, reason=reasons.NO_SHORTS, side=side)
    size_mult = cap_size_mult(model_mult * rules_mult * health_mult, strategy.sizing)
    sized = msgspec.structs.replace(modelled, side=side, size_mult=size_mult)
    # The venue's filters are looked up only for a signal that got this far (lazy load).
    instrument = None if catalog is None else await catalog.get(market, event.symbol)
    size = size_entry(event.symbol, event.price, size_mult, strategy.sizing, instrument)
    if size.reason is not None:
        return msgspec.structs.replace(sized, reason=size.reason, qty=size.qty)
    # B7 margin of the final quantity; a SPOT buy is paid in full and holds no futures margin.
    margin = (
        Decimal(0) if market == "SPOT" else margin_of(size.qty, event.price, config.risk.leverage)
    )
    return msgspec.structs.replace(
        sized,
        action="open",
        reason=reasons.ENTRY,
        qty=size.qty,
        margin_usdt=margin,
        intent_id=entry_intent_id(event.signal_id),
    )


__all__ = ["COMPILED", "CompiledCache", "DecisionEngine", "Outcome", "evaluate", "intent_of"]
