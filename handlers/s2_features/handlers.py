"""S2's market-event handler: ``mkt:events:{perp}:<SYMBOL>`` -> ``signals`` + ``feat:events:<sym>``.

Cadence: book and trade events only update the symbol's in-memory state (no I/O); each
completed 1-minute bar from S1 produces one snapshot: a ``signals`` row (``signal_id`` =
``<symbol>:<t0>``, ``t0`` = the bar's close time; ``ON CONFLICT DO NOTHING``), the persisted
state, and a ``FeatureEvent`` emitted with the ack. Spot events are ignored: S2 follows the
perpetual market that S3 trades.

Exactly-once effect per entry: the state records the last stream entry it applied, so a
redelivered entry is not applied twice. A redelivered bar re-emits its snapshot from the
``signals`` row (its emit may have been lost with an uncommitted batch); downstream, the same
``signal_id`` (and the same ``_eid`` origin) identifies the duplicate. The events of one symbol
are applied one at a time, in stream order, under the symbol's lock, whatever the binding's
concurrency; across processes, run one S2 consumer per symbol stream (see docs/runtime.md).
"""

from __future__ import annotations

from typing import Any

import msgspec.structs

from chimera.config.bundle import ConfigBundle
from chimera.config.features import FeaturesConfig
from chimera.domain.features import FeatureEvent, signal_id_of
from chimera.domain.market import Bar1m, BookEvent, MarketEvent, TradeEvent
from chimera.names import feat_stream
from chimera_workers.context import Context
from chimera_workers.errors import Retry
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s2_features.cache import (
    CacheStore,
    CasFailed,
    EntryId,
    Slot,
    parse_entry_id,
    store_for,
)
from handlers.s2_features.state import (
    MINUTE_MS,
    FeatureCache,
    Return,
    apply_book,
    apply_trade,
    close_bar,
    fit_config,
    new_cache,
    warm_kernels,
)
from handlers.s2_features.store import insert_signal, require_db, stored_event

_DEFAULT_CONFIG = FeaturesConfig()
warm_kernels()  # at import, i.e. when the worker loads its bindings, not on the first bar
_CATCH_UP_PAGE = 1_000


def features_config(config: Any) -> FeaturesConfig:
    """Return the ``features:`` section of the worker's config (defaults without a bundle)."""
    if isinstance(config, ConfigBundle):
        return config.features
    if isinstance(config, FeaturesConfig):
        return config
    return _DEFAULT_CONFIG


async def on_market(event: MarketEvent, ctx: Context) -> None:
    """Apply one market event to its symbol's features; on a completed bar, publish them."""
    ev = event.event
    if ev.kind != "perp":
        return
    entry_id = ctx.entry_id
    if entry_id is None:
        raise ValueError("S2's market handler runs on stream deliveries only")
    cfg = features_config(ctx.config)
    store = store_for(ctx.redis)
    slot = store.slot(ev.symbol)
    entry = parse_entry_id(entry_id)
    async with slot.lock:
        try:
            if slot.cache is None:
                await _restore(slot, store, ev.symbol, ctx, cfg, entry)
            if entry <= slot.applied:
                if type(ev) is Bar1m:
                    await _reemit(ev, ctx)
                return
            await _apply(slot, store, ev, entry_id, entry, ctx, cfg, emit=True)
        except CasFailed as exc:
            slot.cache = None  # reload (and catch up) on the redelivery
            raise Retry(str(exc), delay_ms=50) from exc


async def _apply(
    slot: Slot,
    store: CacheStore,
    ev: BookEvent | TradeEvent | Bar1m,
    entry_id: str,
    entry: EntryId,
    ctx: Context,
    cfg: FeaturesConfig,
    *,
    emit: bool,
) -> None:
    cache = slot.cache
    assert cache is not None
    if type(ev) is BookEvent:
        cache = apply_book(cache, ev, cfg)
        ts_ms = ev.ts_ms
    elif type(ev) is TradeEvent:
        cache = apply_trade(cache, ev, cfg)
        ts_ms = ev.ts_ms
    else:
        assert type(ev) is Bar1m
        await _on_bar(slot, store, cache, ev, entry_id, entry, ctx, cfg, emit=emit)
        return
    if ts_ms - cache.persisted_ts_ms >= cfg.persist_interval_ms:
        cache = msgspec.structs.replace(cache, entry_id=entry_id, persisted_ts_ms=ts_ms)
        await store.save(slot, cache)
    slot.cache = cache
    slot.applied = entry


async def _on_bar(
    slot: Slot,
    store: CacheStore,
    cache: FeatureCache,
    bar: Bar1m,
    entry_id: str,
    entry: EntryId,
    ctx: Context,
    cfg: FeaturesConfig,
    *,
    emit: bool,
) -> None:
    if bar.open_time <= cache.last_open_time:  # a bar S1 published again: nothing new
        slot.applied = entry
        return
    ref = None if bar.symbol == cfg.reference_symbol else await _ref_returns(store, cfg)
    new, features = close_bar(cache, bar, ref, cfg)
    t0 = bar.open_time + MINUTE_MS
    event = FeatureEvent(
        signal_id=signal_id_of(bar.symbol, t0),
        symbol=bar.symbol,
        t0=t0,
        bar_open_time=bar.open_time,
        price=bar.close,
        features=features,
        config_rev=ctx.config_rev,
    )
    await insert_signal(require_db(ctx.db), event)
    new = msgspec.structs.replace(new, entry_id=entry_id, persisted_ts_ms=t0)
    await store.save(slot, new)
    slot.cache = new
    slot.applied = entry
    if emit:
        ctx.emit(feat_stream(bar.symbol), event)


async def _ref_returns(store: CacheStore, cfg: FeaturesConfig) -> tuple[Return, ...]:
    """Return the reference symbol's recent returns: this worker's copy, else the stored one."""
    held = store.slots.get(cfg.reference_symbol)
    if held is not None and held.cache is not None:
        return held.cache.returns
    stored, _ = await store.load(cfg.reference_symbol)
    return () if stored is None else stored.returns


async def _reemit(bar: Bar1m, ctx: Context) -> None:
    signal_id = signal_id_of(bar.symbol, bar.open_time + MINUTE_MS)
    event = await stored_event(require_db(ctx.db), signal_id, bar.symbol, bar.open_time, bar.close)
    if event is not None:
        ctx.emit(feat_stream(bar.symbol), event)


async def _restore(
    slot: Slot,
    store: CacheStore,
    symbol: str,
    ctx: Context,
    cfg: FeaturesConfig,
    entry: EntryId,
) -> None:
    stored, stored_id = await store.load(symbol)
    cache = fit_config(stored if stored is not None else new_cache(symbol, cfg), cfg)
    slot.stored_entry_id = stored_id
    slot.cache = cache
    slot.applied = parse_entry_id(cache.entry_id)
    if entry > slot.applied and ctx.stream is not None:
        await _catch_up(slot, store, ctx, cfg, ctx.stream, cache.entry_id)


async def _catch_up(
    slot: Slot,
    store: CacheStore,
    ctx: Context,
    cfg: FeaturesConfig,
    stream: str,
    after: str,
) -> None:
    """Apply the entries between the stored state and the current one (exclusive).

    They were handled by a worker whose in-memory state was lost; acked ones will not come
    again. Bars among them rewrite their ``signals`` row (idempotent) but are not emitted here:
    a bar still pending is redelivered later and re-emits from its row then.
    """
    decoder = ctx.app.stream(stream).decoder
    until = ctx.entry_id
    start = f"({after}"
    while True:
        page: list[tuple[bytes, dict[bytes, bytes]]] = await ctx.redis.xrange(
            stream, min=start, max=f"({until}", count=_CATCH_UP_PAGE
        )  # type: ignore[assignment]
        for raw_id, fields in page:
            entry_id = raw_id.decode()
            event: MarketEvent = decoder.decode(fields[PAYLOAD_FIELD])
            if event.event.kind == "perp":
                entry = parse_entry_id(entry_id)
                await _apply(slot, store, event.event, entry_id, entry, ctx, cfg, emit=False)
            start = f"({entry_id}"
        if len(page) < _CATCH_UP_PAGE:
            return
