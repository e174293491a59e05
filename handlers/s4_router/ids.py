"""Client order ids: a pure function of ``intent_id`` and the order's leg.

Binance accepts 1-36 characters of ``[A-Za-z0-9._:/-]``. The id is ``<base>.<leg>``: ``base`` is
the intent id itself when it fits and uses only those characters, else ``h`` + 29 hex digits of
its SHA-256, so a redelivered intent always maps to the same venue orders.
"""

from __future__ import annotations

import hashlib
import re

MAX_CLIENT_ID = 36
_ALLOWED = re.compile(r"^[A-Za-z0-9._:/-]+$")
_LEG = re.compile(r"^[a-z0-9]{1,5}$")
_MAX_BASE = MAX_CLIENT_ID - 6  # room for "." and a leg of up to 5 characters

# Legs: the one order of MARKET / conditional intents, MAKER_TAKER's two, the cancel escalation.
LEG_MARKET = "mk"
LEG_MAKER = "mm"
LEG_TAKER = "mt"
LEG_CONDITIONAL = "cd"
LEG_ESCALATION = "x"
# OCO / GUARD (SPOT): the list of the native OCO, its take-profit (LIMIT_MAKER) and stop
# (STOP_LOSS_LIMIT) legs; the GuardStop's take-profit and the stop-out market sell; the market
# exit when the bracket is already hit as it is placed.
LEG_OCO_LIST = "ol"
LEG_OCO_TP = "ot"
LEG_OCO_SL = "os"
LEG_GUARD_TP = "gt"
LEG_GUARD_STOP = "gs"
LEG_PROTECT_EXIT = "px"


def slice_leg(index: int) -> str:
    """Return the leg of TWAP slice ``index`` (0-based)."""
    return f"s{index}"


def id_base(intent_id: str) -> str:
    """Return the part of every client order id that stands for ``intent_id``."""
    if len(intent_id) <= _MAX_BASE and _ALLOWED.match(intent_id):
        return intent_id
    return "h" + hashlib.sha256(intent_id.encode()).hexdigest()[:29]


def client_order_id(intent_id: str, leg: str) -> str:
    """Return the client order id of ``leg`` of ``intent_id``."""
    if not _LEG.match(leg):
        raise ValueError(f"order leg {leg!r} must be 1-5 lowercase letters or digits")
    return f"{id_base(intent_id)}.{leg}"


__all__ = [
    "LEG_CONDITIONAL",
    "LEG_ESCALATION",
    "LEG_GUARD_STOP",
    "LEG_GUARD_TP",
    "LEG_MAKER",
    "LEG_MARKET",
    "LEG_OCO_LIST",
    "LEG_OCO_SL",
    "LEG_OCO_TP",
    "LEG_PROTECT_EXIT",
    "LEG_TAKER",
    "MAX_CLIENT_ID",
    "client_order_id",
    "id_base",
    "slice_leg",
]
