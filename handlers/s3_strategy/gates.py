"""L0: what S3 reads before deciding (kill switch, start-up reconcile gate, health, regime,
funding) and the time gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from chimera import names
from chimera.config.strategy import TradingWindow, minute_of_day
from chimera.domain.features import RegimeLabel
from chimera.domain.market import FundingEvent
from chimera.names import RECON_REQUIRED_SINCE
from chimera.prod_state import (
    HealthGrade,
    KillSwitch,
    parse_health,
    parse_kill_switch,
    parse_regime,
)
from chimera_workers.connections import RedisClient
from handlers.s5_reconciler.gate import gate_open

_FUNDING = msgspec.json.Decoder(FundingEvent)


@dataclass(frozen=True, slots=True)
class Situation:
    """The production state one decision is made in."""

    kill_switch: KillSwitch
    health: HealthGrade
    regime: RegimeLabel
    funding_rate: Decimal | None
    # S5's start-up gate: a reconcile pass followed the latest worker start (docs/s5-reconciler.md)
    reconciled: bool = True


async def read_situation(redis: RedisClient, symbol: str) -> Situation:
    """Read the kill switch, the reconcile gate, health, regime and next funding of ``symbol``
    in one round trip."""
    pipe = redis.pipeline(transaction=False)
    pipe.get(names.KILL_SWITCH)
    pipe.get(names.HEALTH_STATE)
    pipe.get(names.REGIME_STATE)
    pipe.get(names.funding_next_key(symbol))
    pipe.get(names.RECON_LAST_RUN_TS)
    pipe.get(RECON_REQUIRED_SINCE)
    kill, health, regime, funding, last_run, required = await pipe.execute()
    return Situation(
        parse_kill_switch(kill),
        parse_health(health),
        parse_regime(regime),
        _funding(funding),
        gate_open(last_run, required),
    )


def _funding(raw: bytes | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        return _FUNDING.decode(raw).rate
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def window_open(windows: tuple[TradingWindow, ...], t_ms: int) -> bool:
    """Tell whether ``t_ms`` (UTC) falls in any window; no windows means always open."""
    if not windows:
        return True
    moment = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
    minute = moment.hour * 60 + moment.minute
    today = moment.isoweekday()
    yesterday = 7 if today == 1 else today - 1
    for window in windows:
        start, end = minute_of_day(window.start), minute_of_day(window.end)
        if start < end:
            if today in window.days and start <= minute < end:
                return True
        elif (today in window.days and minute >= start) or (
            yesterday in window.days and minute < end
        ):
            return True  # a window running past midnight (or a whole day when start == end)
    return False


__all__ = ["Situation", "read_situation", "window_open"]
