"""What an ``OrderIntent`` must satisfy before S4 writes anything (each error names the field)."""

from __future__ import annotations

import re

from chimera.config.router import RouterConfig
from chimera.domain.orders import OrderIntent
from handlers.s4_router.errors import IntentInvalid, IntentUnprocessable, IntentUnsupported

MAX_INTENT_ID = 128
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
REDUCING_PURPOSES = frozenset({"EXIT", "SL", "TP", "REDUCE"})
CONDITIONAL_EXECS = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
BRACKET_EXECS = frozenset({"OCO", "GUARD"})
SUPPORTED_EXECS = frozenset({"MARKET", "MAKER_TAKER", "TWAP", *CONDITIONAL_EXECS, *BRACKET_EXECS})


def _invalid(field: str, message: str) -> IntentInvalid:
    return IntentInvalid(f"{message} - at `$.{field}`", hint="fix that field and send it again")


def is_reducing(intent: OrderIntent) -> bool:
    """Return whether the intent can only shrink a position (what the kill switch lets pass)."""
    return (
        intent.reduce_only
        or intent.purpose in REDUCING_PURPOSES
        or intent.exec in CONDITIONAL_EXECS
    )


def check_intent(intent: OrderIntent, config: RouterConfig) -> None:
    """Raise ``IntentInvalid`` (400) or ``IntentUnsupported`` (422) for an unroutable intent."""
    if not (1 <= len(intent.intent_id) <= MAX_INTENT_ID and _PRINTABLE.match(intent.intent_id)):
        raise _invalid("intent_id", f"must be 1-{MAX_INTENT_ID} printable ASCII characters")
    if not _SYMBOL.match(intent.symbol):
        raise _invalid("symbol", f"{intent.symbol!r} is not a venue symbol like BTCUSDT")
    if not intent.qty.is_finite() or intent.qty <= 0:
        raise _invalid("qty", f"must be a positive number, got {intent.qty}")
    for name in ("limit_price", "trigger_price", "tp_price", "sl_price"):
        value = getattr(intent, name)
        if value is not None and (not value.is_finite() or value <= 0):
            raise _invalid(name, f"must be a positive number, got {value}")
    if intent.exec not in SUPPORTED_EXECS:
        raise IntentUnsupported(
            f"exec {intent.exec} is not offered by this router yet - at `$.exec`",
            hint="use MARKET, MAKER_TAKER, TWAP, OCO, GUARD, STOP_MARKET or TAKE_PROFIT_MARKET",
        )
    if intent.exec in BRACKET_EXECS:
        check_bracket(intent)
    if intent.exec in CONDITIONAL_EXECS:
        if intent.market != "FUT":
            raise _invalid("market", f"{intent.exec} legs are futures (FUT) orders")
        if intent.trigger_price is None:
            raise _invalid("trigger_price", f"{intent.exec} needs a trigger price")
    if intent.maker_wait_ms is not None and not (
        0 <= intent.maker_wait_ms <= config.intent_lock_ttl_ms // 2
    ):
        raise _invalid(
            "maker_wait_ms", f"must be between 0 and {config.intent_lock_ttl_ms // 2} ms"
        )
    if intent.exec == "TWAP":
        if not 1 <= intent.twap_slices <= config.twap_max_slices:
            raise _invalid("twap_slices", f"must be between 1 and {config.twap_max_slices}")
        if intent.twap_interval_ms < 0:
            raise _invalid("twap_interval_ms", "must not be negative")


def _unprocessable(field: str, message: str) -> IntentUnprocessable:
    return IntentUnprocessable(
        f"{message} - at `$.{field}`", hint="fix that field and send it again"
    )


def check_bracket(intent: OrderIntent) -> None:
    """Raise ``IntentUnprocessable`` (422) for an OCO / GUARD entry that cannot be bracketed.

    Both are SPOT long entries: a market buy, then a take-profit above and a stop below it.
    """
    if intent.market != "SPOT":
        raise _unprocessable("market", f"{intent.exec} entries are SPOT orders")
    if intent.side != "buy":
        raise _unprocessable("side", f"{intent.exec} entries are buys (a SPOT long)")
    if intent.purpose != "ENTRY" or intent.reduce_only:
        raise _unprocessable("purpose", f"{intent.exec} opens a position: purpose ENTRY only")
    if intent.tp_price is None:
        raise _unprocessable("tp_price", f"{intent.exec} needs a take-profit price")
    if intent.sl_price is None:
        raise _unprocessable("sl_price", f"{intent.exec} needs a stop-loss price")
    if intent.tp_price <= intent.sl_price:
        raise _unprocessable(
            "tp_price", f"take-profit {intent.tp_price} must be above sl_price {intent.sl_price}"
        )


__all__ = ["BRACKET_EXECS", "CONDITIONAL_EXECS", "check_bracket", "check_intent", "is_reducing"]
