"""S2's per-symbol incremental state and the pure steps that advance it.

``FeatureCache`` is what ``feat:{cache}:<symbol>`` holds (JSON): the bar-level kernel states
(ATR, RV), the recent log returns for rho, and the accumulators of the minutes whose bar has not
arrived yet. S1 publishes a bar only after the next minute's first events (the trade that closes
it, book updates within its grace period), so book statistics are kept per minute and a bar
takes exactly the minutes up to its own.

Nothing here does I/O; ``handlers.s2_features.handlers`` loads, advances and persists.
"""

from __future__ import annotations

import math
from decimal import Decimal as _D

import msgspec
import msgspec.structs

from chimera.config.features import FeaturesConfig
from chimera.domain.features import DqcFlags, FeatureSet, finite_or_none
from chimera.domain.market import Bar1m, BookEvent, TradeEvent
from chimera.features.atr import AtrState, atr_update, natr_of
from chimera.features.book import BookStats, book_update, imbalance_of
from chimera.features.correlation import pearson
from chimera.features.volatility import RvState, rv_update, sigma_per_bar

MINUTE_MS = 60_000

Return = tuple[int, float]
"""(bar open_time, log return of that bar's close)."""


class MinuteStats(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Book statistics and data-quality observations of one minute (venue time)."""

    minute: int
    book: BookStats = BookStats()
    crossed: bool = False
    locked: bool = False
    gap: bool = False
    lagged: bool = False


class FeatureCache(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything S2 needs to continue a symbol's features; JSON in ``feat:{cache}:<symbol>``.

    ``entry_id`` is the last stream entry applied: entries at or before it are not applied
    again (redelivery), entries after it that a restarted worker never saw are re-read from the
    stream (catch-up).
    """

    symbol: str
    atr: AtrState
    rv: RvState
    entry_id: str = "0-0"
    returns: tuple[Return, ...] = ()
    last_open_time: int = -1
    last_trade_id: int = -1
    last_book_ts_ms: int = -1
    last_update_id: int = -1
    persisted_ts_ms: int = -1
    minutes: tuple[MinuteStats, ...] = ()


def new_cache(symbol: str, cfg: FeaturesConfig) -> FeatureCache:
    """Return the empty state of ``symbol`` for ``cfg``'s windows."""
    return FeatureCache(symbol, AtrState(cfg.atr_period), RvState(cfg.rv_window))


def fit_config(cache: FeatureCache, cfg: FeaturesConfig) -> FeatureCache:
    """Return ``cache`` with any kernel whose window changed in ``cfg`` restarted (warm-up
    begins again for that feature only)."""
    if cache.atr.period != cfg.atr_period:
        cache = msgspec.structs.replace(cache, atr=AtrState(cfg.atr_period))
    if cache.rv.window != cfg.rv_window:
        cache = msgspec.structs.replace(cache, rv=RvState(cfg.rv_window))
    return cache


def _minute_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def _with_minute(minutes: tuple[MinuteStats, ...], stats: MinuteStats) -> tuple[MinuteStats, ...]:
    if minutes and minutes[-1].minute == stats.minute:
        return (*minutes[:-1], stats)
    # A late event of an earlier minute (rare) goes to its own slot, kept in minute order.
    return tuple(sorted((*(m for m in minutes if m.minute != stats.minute), stats),
                        key=lambda m: m.minute))  # fmt: skip


def _minute(minutes: tuple[MinuteStats, ...], minute: int) -> MinuteStats:
    if minutes and minutes[-1].minute == minute:
        return minutes[-1]
    for m in minutes:
        if m.minute == minute:
            return m
    return MinuteStats(minute)


def apply_book(cache: FeatureCache, ev: BookEvent, cfg: FeaturesConfig) -> FeatureCache:
    """Return the state after one book update (spread, top-N imbalance, DQC observations)."""
    # Prices and sizes are Decimal; features are statistics, converted to float here only.
    levels = cfg.depth_levels
    bid_depth = sum(float(q) for _, q in ev.bids[:levels])
    ask_depth = sum(float(q) for _, q in ev.asks[:levels])
    minute = _minute_of(ev.ts_ms)
    stats = _minute(cache.minutes, minute)
    gap = ev.update_id < cache.last_update_id
    stats = MinuteStats(
        minute,
        book_update(stats.book, float(ev.spread_bp), imbalance_of(bid_depth, ask_depth)),
        stats.crossed or ev.crossed,
        stats.locked or (ev.bid == ev.ask),
        stats.gap or gap,
        stats.lagged or ev.recv_ts_ms - ev.ts_ms > cfg.max_lag_ms,
    )
    return msgspec.structs.replace(
        cache,
        minutes=_with_minute(cache.minutes, stats),
        last_book_ts_ms=max(cache.last_book_ts_ms, ev.ts_ms),
        last_update_id=max(cache.last_update_id, ev.update_id),
    )


def apply_trade(cache: FeatureCache, ev: TradeEvent, cfg: FeaturesConfig) -> FeatureCache:
    """Return the state after one trade: only its delivery lag matters (bars carry the rest)."""
    if ev.recv_ts_ms - ev.ts_ms <= cfg.max_lag_ms or ev.backfilled:
        return cache
    minute = _minute_of(ev.ts_ms)
    stats = msgspec.structs.replace(_minute(cache.minutes, minute), lagged=True)
    return msgspec.structs.replace(cache, minutes=_with_minute(cache.minutes, stats))


def rho_of(own: tuple[Return, ...], ref: tuple[Return, ...], min_pairs: int) -> tuple[float, int]:
    """Return rho of the log returns the two series share by minute, and how many they share."""
    import numpy as np

    ref_by_time = dict(ref)
    pairs = [(r, ref_by_time[t]) for t, r in own if t in ref_by_time]
    if len(pairs) < min_pairs:
        return math.nan, len(pairs)
    xy = np.array(pairs, dtype=np.float64)
    return float(pearson(np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]))), len(
        pairs
    )


def is_outlier(log_return: float, sigma: float, cfg: FeaturesConfig) -> bool:
    """Return whether a bar's log return is a jump beyond the configured limits."""
    if not math.isfinite(log_return):
        return False
    size = abs(log_return)
    if size * 10_000 > cfg.outlier_max_bp:
        return True
    return math.isfinite(sigma) and sigma > 0.0 and size > cfg.outlier_sigmas * sigma


def close_bar(
    cache: FeatureCache,
    bar: Bar1m,
    ref_returns: tuple[Return, ...] | None,
    cfg: FeaturesConfig,
) -> tuple[FeatureCache, FeatureSet]:
    """Advance the bar kernels by ``bar``; return the new state and the bar's features.

    ``ref_returns`` are the reference symbol's recent returns (None: use this symbol's own, it
    is the reference). The minutes up to the bar's are folded into its book features.
    """
    high, low, close = float(bar.high), float(bar.low), float(bar.close)
    sigma_before = sigma_per_bar(cache.rv)
    atr_state = atr_update(cache.atr, high, low, close)
    rv_state, log_return, rv = rv_update(cache.rv, close, cfg.periods_per_year)
    returns = cache.returns
    if math.isfinite(log_return):
        returns = (*returns, (bar.open_time, log_return))[-cfg.corr_window :]
    rho, pairs = rho_of(returns, returns if ref_returns is None else ref_returns,
                        cfg.corr_min_pairs)  # fmt: skip

    taken = [m for m in cache.minutes if m.minute <= bar.open_time]
    kept = tuple(m for m in cache.minutes if m.minute > bar.open_time)
    book = BookStats()
    for m in taken:
        book = BookStats(
            book.count + m.book.count,
            book.spread_sum + m.book.spread_sum,
            m.book.spread_last if m.book.spread_last is not None else book.spread_last,
            book.imbalance_sum + m.book.imbalance_sum,
            m.book.imbalance_last if m.book.imbalance_last is not None else book.imbalance_last,
        )
    bar_close_ms = bar.open_time + MINUTE_MS
    trade_gap = cache.last_trade_id >= 0 and bar.first_trade_id > cache.last_trade_id + 1
    minute_gap = cache.last_open_time >= 0 and bar.open_time > cache.last_open_time + MINUTE_MS
    dqc = DqcFlags(
        stale=(
            cache.last_book_ts_ms < 0
            or bar_close_ms - cache.last_book_ts_ms > cfg.stale_ms
            or any(m.lagged for m in taken)
        ),
        gap=trade_gap or minute_gap or any(m.gap for m in taken),
        crossed=any(m.crossed for m in taken),
        locked=any(m.locked for m in taken),
        outlier=is_outlier(log_return, sigma_before, cfg),
        partial=not bar.complete,
    )
    features = FeatureSet(
        close=close,
        log_return=finite_or_none(log_return),
        atr=atr_state.atr,
        natr=finite_or_none(natr_of(atr_state)),
        rv=finite_or_none(rv),
        rho=finite_or_none(rho),
        rho_pairs=pairs,
        spread_bp=finite_or_none(book.spread_mean),
        spread_bp_last=book.spread_last,
        depth_imbalance=finite_or_none(book.imbalance_mean),
        depth_imbalance_last=book.imbalance_last,
        book_updates=book.count,
        trades=bar.trade_count,
        dqc=dqc,
    )
    new = msgspec.structs.replace(
        cache,
        atr=atr_state,
        rv=rv_state,
        returns=returns,
        last_open_time=bar.open_time,
        last_trade_id=max(cache.last_trade_id, bar.last_trade_id),
        minutes=kept,
    )
    return new, features


def warm_kernels() -> None:
    """Run every kernel once so numba compiles (or loads its cache) now, not on the first bar
    of a live stream (the first call costs 0.1-5 s; later ones microseconds)."""
    cfg = FeaturesConfig(atr_period=2, rv_window=2, corr_min_pairs=2)
    cache = new_cache("WARMUP", cfg)
    for i in range(4):
        price = 100.0 + i
        cache, _ = close_bar(
            cache,
            Bar1m(kind="perp", symbol="WARMUP", open_time=i * MINUTE_MS, open=_D(price),
                  high=_D(price + 1), low=_D(price - 1), close=_D(price), volume=_D(1),
                  quote_volume=_D(price), trade_count=1, first_trade_id=i, last_trade_id=i,
                  complete=True),
            None,
            cfg,
        )  # fmt: skip
