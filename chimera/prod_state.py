"""The production flags every core service reads: kill switch, health grade, market regime.

* ``prod:{kill_switch}``: JSON ``{"on": true, "by": "...", "reason": "...", "ts_ms": ...}``
  (``KillSwitch``); the spec's plain ``ON`` / ``OFF`` strings are accepted too. Absent: off.
  A value that is neither is treated as ON (fail closed) — an operator meant something.
* ``prod:{health}:system:state``: ``GREEN | YELLOW | ORANGE | RED`` (plain, as the spec writes
  it, or JSON ``{"grade": ...}``). Absent: GREEN. Anything else: RED (fail closed).
* ``prod:{regime}:market:state``: S2's ``RegimeState`` JSON. Absent or unreadable: NORMAL.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec

from chimera import names
from chimera.domain.features import RegimeLabel, RegimeState
from chimera_workers.connections import RedisClient

log = logging.getLogger(__name__)

HealthGrade = Literal["GREEN", "YELLOW", "ORANGE", "RED"]
HEALTH_GRADES: tuple[HealthGrade, ...] = ("GREEN", "YELLOW", "ORANGE", "RED")


class KillSwitch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The value of ``prod:{kill_switch}``: while ``on``, no new positions are opened."""

    on: bool
    by: str = ""
    reason: str = ""
    ts_ms: int = 0


class _Health(msgspec.Struct, frozen=True):
    grade: str


KILL_SWITCH_OFF = KillSwitch(on=False)
_KILL = msgspec.json.Decoder(KillSwitch)
_HEALTH = msgspec.json.Decoder(_Health)
_REGIME = msgspec.json.Decoder(RegimeState)


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def parse_kill_switch(raw: bytes | str | None) -> KillSwitch:
    """Interpret a ``prod:{kill_switch}`` value (None: the key is absent)."""
    if raw is None:
        return KILL_SWITCH_OFF
    text = _text(raw).strip()
    if text.upper() in ("ON", "OFF"):
        return KillSwitch(on=text.upper() == "ON", reason="plain value")
    try:
        return _KILL.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        log.warning("unreadable %s value %r: treating it as ON", names.KILL_SWITCH, text[:80])
        return KillSwitch(on=True, reason=f"unreadable value {text[:80]!r}")


def parse_health(raw: bytes | str | None) -> HealthGrade:
    """Interpret a ``prod:{health}:system:state`` value (None: the key is absent)."""
    if raw is None:
        return "GREEN"
    text = _text(raw).strip()
    if text.startswith("{"):
        try:
            text = _HEALTH.decode(text).grade
        except (msgspec.ValidationError, msgspec.DecodeError):
            return "RED"
    grade = text.upper()
    for known in HEALTH_GRADES:
        if grade == known:
            return known
    return "RED"


def parse_regime(raw: bytes | str | None) -> RegimeLabel:
    """Interpret a ``prod:{regime}:market:state`` value (None: absent or expired)."""
    if raw is None:
        return "NORMAL"
    try:
        return _REGIME.decode(raw).state
    except (msgspec.ValidationError, msgspec.DecodeError):
        return "NORMAL"


async def read_kill_switch(redis: RedisClient) -> KillSwitch:
    """Return the kill switch as it is now."""
    return parse_kill_switch(await redis.get(names.KILL_SWITCH))


async def set_kill_switch(
    redis: RedisClient, switch: KillSwitch, *, ttl_ms: int | None = None
) -> None:
    """Write the kill switch (the spec's ``prod:{kill_switch}=ON`` with an optional TTL)."""
    await redis.set(names.KILL_SWITCH, msgspec.json.encode(switch), px=ttl_ms)


async def read_health(redis: RedisClient) -> HealthGrade:
    """Return the system health grade as it is now."""
    return parse_health(await redis.get(names.HEALTH_STATE))


async def read_regime(redis: RedisClient) -> RegimeLabel:
    """Return the market regime label as it is now."""
    return parse_regime(await redis.get(names.REGIME_STATE))


__all__ = [
    "HEALTH_GRADES",
    "KILL_SWITCH_OFF",
    "HealthGrade",
    "KillSwitch",
    "parse_health",
    "parse_kill_switch",
    "parse_regime",
    "read_health",
    "read_kill_switch",
    "read_regime",
    "set_kill_switch",
]
