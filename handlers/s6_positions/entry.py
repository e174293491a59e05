"""The ``ord:{results}`` binding: protect a filled FUT entry, or release an empty one's risk.

* A FUT ENTRY order ``FILLED``: emit its reduce-only STOP_MARKET (SL) and TAKE_PROFIT_MARKET
  (TP) intents on ``ord:{intents}`` (``protection``), sized ``filled_qty``, priced from the
  average fill price and S2's latest ATR of the symbol. The intent ids are ``<entry>:sl`` /
  ``<entry>:tp`` and the prices are fixed at the first delivery (``pos:{protection}:<entry>``),
  so a redelivered result re-sends identical intents, which S4 recognises and does not repeat.
* A FUT ENTRY that ended with nothing filled (``REJECTED``, ``EXPIRED``, ``CANCELED``): give
  S3's B7 reservation (id = ``signal_id``) back; the ledger releases an id at most once.
* Everything else is ignored.

Results are per order, not per intent: a MAKER_TAKER's post-only leg (``.mm``) that ends empty is
followed by its taker leg, so it releases nothing; TWAP slices (``.s<i>``) are not handled yet.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera import names
from chimera.config.bundle import ConfigBundle, load_bundle
from chimera.domain.features import FeatureEvent
from chimera.domain.orders import OrderResult
from chimera.risk import RiskLedger
from chimera_workers import Context
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError, PayloadError
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s4_router.ids import LEG_MAKER, LEG_MARKET, LEG_TAKER
from handlers.s6_positions.protection import protective_intents, protective_prices

ENTRY_SUFFIX = ":entry"
NOTHING_FILLED = frozenset({"REJECTED", "EXPIRED", "CANCELED"})
# Legs whose FILLED result means the entry is filled; legs whose empty end ends the entry
# ("" = refused before any order was sent).
FILLING_LEGS = frozenset({LEG_MARKET, LEG_MAKER, LEG_TAKER})
FINAL_LEGS = frozenset({"", LEG_MARKET, LEG_TAKER})
PROTECTION_TTL_MS = 7 * 86_400_000
_FEATURES = msgspec.json.Decoder(FeatureEvent)
_FILE_BUNDLE: list[ConfigBundle] = []


def leg_of(client_order_id: str) -> str:
    """Return S4's leg of an order (``mk``, ``mm``, ...), or "" for an intent refused unsent."""
    return client_order_id.rpartition(".")[2] if client_order_id else ""


def _config(ctx: Context) -> tuple[ConfigBundle, int]:
    if isinstance(ctx.config, ConfigBundle):
        return ctx.config, ctx.config_rev
    if ctx.config is not None:
        raise ConfigError(
            f"S6 needs a ConfigBundle, the worker has {type(ctx.config).__name__}",
            hint="set `config: {loader: chimera.config.store:worker_loader}` in streams.yaml",
        )
    # No `config:` section: run on the bundle file as revision 0 (read once).
    if not _FILE_BUNDLE:
        _FILE_BUNDLE.append(load_bundle())
    return _FILE_BUNDLE[0], 0


async def latest_atr(redis: RedisClient, symbol: str) -> Decimal | None:
    """Return the ATR of S2's latest feature snapshot of ``symbol`` (None: none known)."""
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await redis.xrevrange(  # type: ignore[assignment]
        names.feat_stream(symbol), count=1
    )
    if not entries:
        return None
    _, fields = entries[0]
    try:
        atr = _FEATURES.decode(fields[PAYLOAD_FIELD]).features.atr
    except (KeyError, msgspec.ValidationError, msgspec.DecodeError):
        return None  # an unreadable snapshot is an unknown ATR: the percentage fallback applies
    return None if atr is None else Decimal(repr(atr))


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
    text = stored.decode() if isinstance(stored, bytes) else str(stored)
    sl, _, tp = text.partition("|")
    return Decimal(sl), Decimal(tp)


async def protect(event: OrderResult, ctx: Context, config: ConfigBundle, rev: int) -> None:
    """Emit the SL and TP intents of the filled entry ``event``."""
    if event.avg_price is None or event.filled_qty <= 0:
        raise PayloadError(
            f"entry {event.intent_id} is FILLED with avg_price={event.avg_price} "
            f"filled_qty={event.filled_qty}"
        )
    atr = await latest_atr(ctx.redis, event.symbol)
    prices = protective_prices(event.side, event.avg_price, atr, config.positions)
    prices = await fixed_prices(ctx.redis, event.intent_id, prices)
    for intent in protective_intents(event, prices, rev):
        ctx.emit(names.ORD_INTENTS, intent)


def reservation_id(event: OrderResult) -> str | None:
    """Return the B7 reservation id of an entry: its signal id (S3 entries: ``<signal>:entry``)."""
    if event.signal_id:
        return event.signal_id
    if event.intent_id.endswith(ENTRY_SUFFIX):
        return event.intent_id.removesuffix(ENTRY_SUFFIX)
    return None  # an entry not from S3 (POST /orders) reserved nothing


async def on_order_result(event: OrderResult, ctx: Context) -> None:
    """Protect a filled FUT entry, release the risk of an empty one, ignore other results."""
    if event.market != "FUT" or event.purpose != "ENTRY":
        return
    leg = leg_of(event.client_order_id)
    if event.status == "FILLED" and leg in FILLING_LEGS:
        config, rev = _config(ctx)
        await protect(event, ctx, config, rev)
    elif event.status in NOTHING_FILLED and event.filled_qty == 0 and leg in FINAL_LEGS:
        signal_id = reservation_id(event)
        if signal_id is not None:
            config, _ = _config(ctx)
            ledger = RiskLedger(ctx.redis, tombstone_ttl_ms=config.risk.tombstone_ttl_ms)
            await ledger.release(signal_id, event.symbol)


__all__ = ["latest_atr", "leg_of", "on_order_result", "protect", "reservation_id"]
