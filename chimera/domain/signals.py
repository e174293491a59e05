"""S3's output: the ``Decision`` on a signal, stored in ``signals.decision`` and sent on
``sig:events`` (spec §A S3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from chimera.domain.orders import Side

Action = Literal["open", "skip"]

# Why a decision was made; a rule's skip carries the rule's own reason text instead.
KILL_SWITCH = "KILL_SWITCH"
RECONCILE_GATE = "RECONCILE_GATE"  # no reconcile pass since the latest worker start (S5)
OUTSIDE_WINDOW = "OUTSIDE_WINDOW"
HEALTH = "HEALTH"
DISABLED = "DISABLED"
RULE_SKIP = "RULE_SKIP"
MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
LOW_EDGE = "LOW_EDGE"
NO_SHORTS = "NO_SHORTS"
SIZE_TOO_SMALL = "SIZE_TOO_SMALL"
BELOW_MIN_QTY = "BELOW_MIN_QTY"  # under the venue's lot-size minimum, even raised within the cap
BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"  # under the venue's minimum notional, likewise
SPOT_NO_SHORT = "SPOT_NO_SHORT"  # a short decision with SPOT entries configured
RISK_BUDGET = "RISK_BUDGET"
ENTRY = "ENTRY"


class Decision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S3's decision on one signal: open an entry (with its intent) or skip, and why.

    ``size_mult`` is the product of the model's, the rules' and the health multipliers (capped);
    ``qty`` the base quantity of the entry intent (``intent_id``); ``model_p`` the model's
    probability (None when it was not consulted); ``model_fallback`` whether ``model_p`` is the
    configured fallback; ``rules_fired`` / ``rule_reasons`` the rules' outcome (plus a
    ``risk:<limit>`` entry when the reservation was refused). ``ts_ms`` is when it was decided
    (wall clock); ``t0`` the features' venue time.
    """

    signal_id: str
    symbol: str
    action: Action
    reason: str
    config_rev: int
    t0: int
    ts_ms: int
    side: Side | None = None
    model_p: float | None = None
    model_fallback: bool = False
    size_mult: Decimal = Decimal(0)
    tp_mult: Decimal = Decimal(1)
    sl_mult: Decimal = Decimal(1)
    max_adds_override: int | None = None
    rules_fired: tuple[str, ...] = ()
    rule_reasons: tuple[str, ...] = ()
    price: Decimal | None = None
    qty: Decimal | None = None
    margin_usdt: Decimal | None = None
    intent_id: str | None = None
    health: str = "GREEN"  # the health grade it was decided under (B9: how S4 executes it)


def entry_intent_id(signal_id: str) -> str:
    """Return the intent id of the entry a signal opens (S4's idempotency key)."""
    return f"{signal_id}:entry"


__all__ = ["Action", "Decision", "entry_intent_id"]
