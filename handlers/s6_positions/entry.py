"""The ``ord:{results}`` binding: protect every filled part of a FUT entry, release an empty one.

* A leg of a FUT ENTRY that ended (``FILLED``, or ``CANCELED`` / ``EXPIRED`` / ``REJECTED``
  after a partial fill) with a filled quantity: emit its reduce-only STOP_MARKET (SL) and
  TAKE_PROFIT_MARKET (TP) intents on ``ord:{intents}`` (``protection``), sized that leg's
  ``filled_qty``. A market entry is one leg; a MAKER_TAKER's maker (``.mm``) and taker (``.mt``)
  and each TWAP slice (``.s<i>``) are protected separately as each ends, so the stops of an
  entry always add up to what it filled. The prices are computed once per entry, at its first
  filled leg, from that leg's average price, S2's latest ATR of the symbol and S2's market
  regime, and pinned (``pos:{protection}:<entry>``); each leg's quantity, time and config
  revision are pinned too (``pos:{legs}:<entry>``), so a redelivered result re-sends identical
  intents, which S4 recognises and does not repeat.
* An entry that ended with nothing filled (``handlers.s6_positions.ends``): give S3's B7
  reservation (id = ``signal_id``) back; the ledger releases an id at most once.
* A filled SL / TP leg that leaves its entry flat (``handlers.s6_positions.close``): the same
  release (B7 step 2).
* Every such fill (entry, add-on, partial close) also writes the position's ``EVENT`` snapshot.
* Everything else (other markets and purposes, orders still open) is ignored.
"""

from __future__ import annotations

from decimal import Decimal

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.domain.orders import OrderResult
from chimera.protection import protective_prices
from chimera.risk import RiskLedger
from chimera_workers import Context
from chimera_workers.connections import RedisClient
from chimera_workers.errors import PayloadError
from handlers.s6_positions.close import CLOSING, reservation_of, settle_close
from handlers.s6_positions.config import s6_config
from handlers.s6_positions.ends import ended_empty
from handlers.s6_positions.legs import LegOutcome, ended_legs, record_leg
from handlers.s6_positions.market import current_regime, latest_atr
from handlers.s6_positions.protection import protective_intents
from handlers.s6_positions.snapshots import snapshot_event

ENDED = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED"})
PROTECTION_TTL_MS = 7 * 86_400_000


def leg_of(client_order_id: str) -> str:
    """Return S4's leg of an order (``mk``, ``mm``, ...), or "" for an intent refused unsent."""
    return client_order_id.rpartition(".")[2] if client_order_id else ""


def _parse_prices(raw: bytes | str) -> tuple[Decimal, Decimal]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    sl, _, tp = text.partition("|")
    return Decimal(sl), Decimal(tp)


async def fixed_prices(
    redis: RedisClient, intent_id: str, prices: tuple[Decimal, Decimal]
) -> tuple[Decimal, Decimal]:
    """Store ``prices`` for entry ``intent_id`` unless some are stored; return the stored ones."""
    key = names.entry_protection_key(intent_id)
    value = f"{prices[0]}|{prices[1]}"
    if await redis.set(key, value, nx=True, px=PROTECTION_TTL_MS):
        return prices
    stored = await redis.get(key)
    if stored is None:  # expired in between: ours is as good as any
        return prices
    return _parse_prices(stored)


async def entry_prices(
    redis: RedisClient, event: OrderResult, avg_price: Decimal, config: ConfigBundle
) -> tuple[Decimal, Decimal]:
    """Return the entry's pinned (SL, TP) prices, computing and pinning them the first time."""
    stored = await redis.get(names.entry_protection_key(event.intent_id))
    if stored is not None:
        return _parse_prices(stored)
    atr = await latest_atr(redis, event.symbol)
    regime = await current_regime(redis)
    prices = protective_prices(event.side, avg_price, atr, config.positions, regime)
    return await fixed_prices(redis, event.intent_id, prices)


async def protect(
    event: OrderResult, leg: str, ctx: Context, config: ConfigBundle, rev: int
) -> None:
    """Emit the SL and TP intents of the filled leg ``leg`` of the entry ``event``."""
    if event.avg_price is None or event.filled_qty <= 0 or not leg:
        raise PayloadError(
            f"entry {event.intent_id} order {event.client_order_id!r} is {event.status} with "
            f"avg_price={event.avg_price} filled_qty={event.filled_qty}"
        )
    prices = await entry_prices(ctx.redis, event, event.avg_price, config)
    await ctx.redis.sadd(names.POS_OPEN, event.intent_id)  # the manage tick tracks it from now
    outcome = await record_leg(
        ctx.redis, event.intent_id, leg, LegOutcome(event.filled_qty, event.ts_ms, rev)
    )
    for intent in protective_intents(event, prices, leg, outcome):
        ctx.emit(names.ORD_INTENTS, intent)


def reservation_id(event: OrderResult) -> str | None:
    """Return the B7 reservation id of an entry: its signal id (S3 entries: ``<signal>:entry``)."""
    return reservation_of(event.intent_id, event.signal_id)


async def settle_empty(event: OrderResult, leg: str, ctx: Context, rev: int) -> None:
    """Record an empty ended leg; release the reservation if its entry is over, empty."""
    if leg:
        await record_leg(ctx.redis, event.intent_id, leg, LegOutcome(Decimal(0), event.ts_ms, rev))
    signal_id = reservation_id(event)
    if signal_id is None:
        return
    legs = await ended_legs(ctx.redis, event.intent_id)
    if await ended_empty(event, leg, legs, ctx.db):
        config, _ = s6_config(ctx)
        ledger = RiskLedger(ctx.redis, tombstone_ttl_ms=config.risk.tombstone_ttl_ms)
        await ledger.release(signal_id, event.symbol)


async def on_order_result(event: OrderResult, ctx: Context) -> None:
    """Protect a filled leg of a FUT entry, release an empty or closed one, ignore the rest."""
    if event.market != "FUT" or event.status not in ENDED:
        return
    if event.purpose in CLOSING:
        if event.filled_qty > 0:
            config, rev = s6_config(ctx)
            if not await settle_close(event, ctx, config, rev) and ctx.db is not None:
                await snapshot_event(ctx.db, event, rev)  # a partial close
        return
    if event.purpose == "ADD":
        if event.filled_qty > 0 and ctx.db is not None:
            await snapshot_event(ctx.db, event, s6_config(ctx)[1])
        return
    if event.purpose != "ENTRY":
        return
    leg = leg_of(event.client_order_id)
    config, rev = s6_config(ctx)
    if event.filled_qty > 0 or event.status == "FILLED":
        await protect(event, leg, ctx, config, rev)
        if ctx.db is not None:
            await snapshot_event(ctx.db, event, rev)
    else:
        await settle_empty(event, leg, ctx, rev)


__all__ = [
    "entry_prices",
    "fixed_prices",
    "latest_atr",
    "leg_of",
    "on_order_result",
    "protect",
    "reservation_id",
    "settle_empty",
]
