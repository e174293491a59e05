"""Every Redis stream and key name the services use, exactly as the spec spells them.

One module so a name is written once; hash tags (``{...}``) pin the keys that one Lua script
touches to one Cluster slot.
"""

from __future__ import annotations

from typing import Literal

MarketKind = Literal["spot", "perp"]

# --- S1: market data ------------------------------------------------------------------------
MKT_SPOT = "mkt:events:{{spot}}:{symbol}"
MKT_PERP = "mkt:events:{{perp}}:{symbol}"
MKT_FUNDING = "mkt:events:{{funding}}:{symbol}"
METRICS_EVENTS = "metrics:events"
OPS_EVENTS = "ops:events"


def mkt_stream(kind: MarketKind, symbol: str) -> str:
    """Return the market-event stream of ``symbol`` on the spot or perpetual market."""
    return (MKT_SPOT if kind == "spot" else MKT_PERP).format(symbol=symbol)


def funding_stream(symbol: str) -> str:
    """Return the funding-event stream (next and realized funding) of ``symbol``."""
    return MKT_FUNDING.format(symbol=symbol)


# --- S1: treasury -----------------------------------------------------------------------------
def treasury_lock(from_account: str, to_account: str) -> str:
    """Return the lock that serialises transfers between two wallets."""
    return f"lock:{{treasury}}:{from_account}:{to_account}"


TREASURY_LOCK = "lock:{treasury}"

# --- S2 / S3 / S4 / S6 (filled in by later stages) --------------------------------------------
CFG_EVENTS = "cfg:events"
SIG_EVENTS = "sig:events"
ORD_RESULTS = "ord:{results}"
POS_EVENTS = "pos:events"
KILL_SWITCH = "prod:{kill_switch}"
HEALTH_STATE = "prod:{health}:system:state"
REGIME_STATE = "prod:{regime}:market:state"


def feat_stream(symbol: str) -> str:
    """Return the feature-event stream of ``symbol``."""
    return f"feat:events:{symbol}"


def funding_next_key(symbol: str) -> str:
    """Return the key holding the next funding rate and time of ``symbol``."""
    return f"funding:{{next}}:{symbol}"


# Orders: S3/S6/S5 → S4 intents (the spec names no stream; this one is Chimera's), S4's results.
ORD_INTENTS = "ord:{intents}"
TWAP_QUEUE = "prod:{exec}:twap:queue"


def guard_stop_key(symbol: str, intent_id: str) -> str:
    """Return the armed GuardStop of a SPOT entry."""
    return f"guard:{{stop}}:{symbol}:{intent_id}"


def feat_cache_key(symbol: str) -> str:
    """Return the key holding S2's per-symbol incremental feature state."""
    return f"feat:{{cache}}:{symbol}"


# B7: the risk budget and per-symbol concurrency. The spec's names put them in different Cluster
# slots ({budget} vs {concurrency}), but one Lua script must reserve both atomically, so the
# counters the script uses live under the {budget} tag; see docs/decisions.md.
RISK_FUT_MARGIN_INUSE = "risk:{budget}:fut_margin:inuse"


def risk_concurrency_key(symbol: str) -> str:
    """Return the per-symbol open-position counter, in the ``{budget}`` slot (see above)."""
    return f"risk:{{budget}}:concurrency:{symbol}"


def risk_add_on_slot_key(symbol: str) -> str:
    """Return the counter of S6's add-on reservations on ``symbol`` (``{budget}`` slot)."""
    return f"risk:{{budget}}:adds:{symbol}"


# S3's reservations (chimera.risk): the ledger records, in the same {budget} slot as the counters.
RISK_RESERVATIONS = "risk:{budget}:res:"


def risk_concurrency_mirror_key(symbol: str) -> str:
    """Return the spec's own per-symbol concurrency name: a copy for observability, not atomic."""
    return f"risk:{{concurrency}}:{symbol}"


# S4: one intent is routed by one process at a time. Every intent lock shares one fencing counter
# (same {exec} slot), so locks of finished intents leave no keys behind.
INTENT_LOCK_FENCE = "lock:{exec}:intent:fence"


def intent_lock_key(intent_id: str) -> str:
    """Return the lock S4 holds while it routes or cancels ``intent_id``."""
    return f"lock:{{exec}}:intent:{intent_id}"


# S6: the stop-loss/take-profit prices first computed for a filled entry, so a redelivered
# result re-sends the same intents even after S2 published a newer ATR.
def entry_protection_key(intent_id: str) -> str:
    """Return the key holding the SL/TP trigger prices of the filled entry ``intent_id``."""
    return f"pos:{{protection}}:{intent_id}"


# S6: the legs of an entry that ended (HASH leg -> "filled_qty|ts_ms|config_rev", the first
# outcome kept), so each filled leg is protected once with pinned intents and S6 can tell when
# every leg of an entry (e.g. every TWAP slice) ended empty.
def entry_legs_key(intent_id: str) -> str:
    """Return the hash of the ended legs of the entry ``intent_id``."""
    return f"pos:{{legs}}:{intent_id}"


# S4 GuardStop / OCO watch: per symbol, the intents whose exit legs S4 watches on the market
# stream, scored by the price at which to act — at or below (a guard's stop, an OCO's stop) and
# at or above (the take-profit). Same {stop} slot as the guard hashes, so one script updates both.
def guard_below_index_key(symbol: str) -> str:
    """Return the ZSET of ``symbol``'s watched intents scored by their stop price."""
    return f"guard:{{stop}}:index:below:{symbol}"


def guard_above_index_key(symbol: str) -> str:
    """Return the ZSET of ``symbol``'s watched intents scored by their take-profit price."""
    return f"guard:{{stop}}:index:above:{symbol}"


# S5: the epoch-ms start time of the last reconcile run of scope ALL that succeeded (spec §A S5).
RECON_LAST_RUN_TS = "recon:{last_run_ts}"
# S5's start-up gate: the latest worker start; entries wait until RECON_LAST_RUN_TS reaches it.
# Same hash tag as RECON_LAST_RUN_TS, so one MGET reads both on a Cluster.
RECON_REQUIRED_SINCE = "recon:{last_run_ts}:required_since"
# When the s5-reconcile schedule last started a pass (successful or not): the tick's pacing.
RECON_LAST_ATTEMPT_TS = "recon:{last_run_ts}:attempt"
# S5: one POSITIONS pass at a time (its repairs must not run twice for one mismatch).
RECON_POSITIONS_LOCK = "lock:{recon}:positions"


# S6's manage tick (B3), per position (pos_id = the entry's intent id). Each is its own key:
# no script touches two of them, so they need no common hash tag.
def pos_sl_level_key(pos_id: str) -> str:
    """Return the hash of the position's managed stop (level, price, qty, intent, pending)."""
    return f"pos:{{sl}}:level:{pos_id}"


def pos_tp_ladder_key(pos_id: str) -> str:
    """Return the count of the position's partial take-profit steps already executed."""
    return f"pos:{{tp}}:ladder:{pos_id}"


def pos_adds_key(pos_id: str) -> str:
    """Return the position's add-on count (``add_on_count``)."""
    return f"pos:{{adds}}:{pos_id}"


def pos_lock_key(pos_id: str) -> str:
    """Return the lock S6 holds while it changes the position (spec §0: ``lock:{pos}:<pos_id>``)."""
    return f"lock:{{pos}}:{pos_id}"


# S6: the positions it manages (SET of pos_id): added when an entry's first fill is protected,
# removed when the position is settled closed; a periodic sweep of ``orders`` re-adds any missed.
POS_OPEN = "pos:{open}"
POS_OPEN_SWEPT = "pos:{open}:swept_ms"

# S6: positions already reported STAGNATED (SET of pos_id), so the event goes out once.
POS_STAGNATED = "pos:{events}:stagnated"
