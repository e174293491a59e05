"""Recompute a period's bar features from ``bars_1m`` and backfill ``signals.features``.

The bar-derived features (close, log return, ATR, NATR, RV, rho, trades and the ``gap`` /
``outlier`` / ``partial`` DQC flags) are computed with the batch kernels over the period plus a
warm-up before it (Wilder's ATR converges geometrically: 10 * the period leaves < 1e-6 of the
starting value). rho pairs each bar with the reference symbol's returns up to the same minute.
Book-derived features (spread, depth, the ``stale`` / ``crossed`` / ``locked`` flags) cannot be
rebuilt from bars: an existing row keeps them, a new row has them null / false.

One transaction writes every row and the ``strategy_events(kind=FEATURE_RECOMPUTE)`` record, so
a failed run writes nothing.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Annotated, Literal

import asyncpg
import msgspec
import numpy as np

from chimera.config.features import FeaturesConfig
from chimera.domain.features import (
    FEATURE_RECOMPUTE,
    DqcFlags,
    FeatureSet,
    finite_or_none,
    signal_id_of,
)
from chimera.features.atr import atr, natr
from chimera.features.volatility import rolling_rv
from chimera.http import Unprocessable
from handlers.s2_features.state import MINUTE_MS, Return, is_outlier, rho_of

MAX_SPAN_MS = 31 * 86_400_000
Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,30}$")]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=32_503_680_000_000)]  # before year 3000


class RecomputeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /features/recompute`` body: the bars with ``start_ms <= open_time < end_ms``."""

    symbol: Symbol
    start_ms: EpochMs
    end_ms: EpochMs
    venue_kind: Literal["spot", "perp"] = "perp"
    requested_by: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "api"

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("end_ms must be after start_ms")
        if self.end_ms - self.start_ms > MAX_SPAN_MS:
            raise ValueError(f"the period end_ms minus start_ms must be at most {MAX_SPAN_MS} ms")


class RecomputeResult(msgspec.Struct, frozen=True):
    """What a recompute wrote."""

    event_id: str
    symbol: str
    venue_kind: str
    start_ms: int
    end_ms: int
    bars: int
    inserted: int
    updated: int
    config_rev: int


SELECT_BARS = """
SELECT open_time, high::float8 AS high, low::float8 AS low, close::float8 AS close,
       complete, first_trade_id, last_trade_id, trade_count
FROM bars_1m
WHERE venue_kind = $1 AND symbol = $2 AND open_time >= $3 AND open_time < $4
ORDER BY open_time
"""

# New rows get every feature; existing rows keep their book-derived keys and flags.
_BOOK_KEYS = "{dqc,spread_bp,spread_bp_last,depth_imbalance,depth_imbalance_last,book_updates}"
UPSERT_SIGNALS = f"""
INSERT INTO signals (signal_id, symbol, t0, features, config_rev)
SELECT u.signal_id, $2, u.t0, u.features::jsonb, $5
FROM unnest($1::text[], $3::bigint[], $4::text[]) AS u(signal_id, t0, features)
ON CONFLICT (signal_id) DO UPDATE SET
    features = signals.features
        || (EXCLUDED.features - '{_BOOK_KEYS}'::text[])
        || jsonb_build_object('dqc', coalesce(signals.features -> 'dqc', '{{}}'::jsonb)
            || jsonb_build_object('gap', EXCLUDED.features -> 'dqc' -> 'gap',
                                  'outlier', EXCLUDED.features -> 'dqc' -> 'outlier',
                                  'partial', EXCLUDED.features -> 'dqc' -> 'partial')),
    config_rev = EXCLUDED.config_rev
RETURNING (xmax = 0) AS inserted
"""

UPSERT_EVENT = """
INSERT INTO strategy_events (event_id, kind, symbol, ref_id, body, ts_ms)
VALUES ($1, $2, $3, NULL, $4::jsonb, $5)
ON CONFLICT (event_id) DO UPDATE SET body = EXCLUDED.body, ts_ms = EXCLUDED.ts_ms
"""

_encode = msgspec.json.Encoder().encode


def warmup_ms(cfg: FeaturesConfig) -> int:
    """Return how far before the period bars are read so every window is warm at its start."""
    return max(10 * cfg.atr_period, cfg.rv_window + 1, cfg.corr_window + 1) * MINUTE_MS


def _returns(rows: list[asyncpg.Record]) -> list[Return]:
    out: list[Return] = []
    for prev, row in itertools.pairwise(rows):
        out.append((row["open_time"], math.log(row["close"] / prev["close"])))
    return out


def bar_features(
    rows: list[asyncpg.Record], ref_rows: list[asyncpg.Record] | None, cfg: FeaturesConfig
) -> list[FeatureSet]:
    """Return the bar-derived features of every row (the rows in time order, with warm-up)."""
    high = np.array([r["high"] for r in rows], dtype=np.float64)
    low = np.array([r["low"] for r in rows], dtype=np.float64)
    close = np.array([r["close"] for r in rows], dtype=np.float64)
    atrs = atr(high, low, close, cfg.atr_period)
    natrs = natr(high, low, close, cfg.atr_period)
    rvs = rolling_rv(close, cfg.rv_window, cfg.periods_per_year)
    sigmas = rolling_rv(close, cfg.rv_window, 1.0)
    own = _returns(rows)
    ref = own if ref_rows is None else _returns(ref_rows)
    ref_times = [t for t, _ in ref]
    out: list[FeatureSet] = []
    for i, row in enumerate(rows):
        log_return = own[i - 1][1] if i > 0 else math.nan
        window = tuple(own[max(0, i - cfg.corr_window) : i])
        upto = int(np.searchsorted(ref_times, row["open_time"], side="right"))
        rho, pairs = rho_of(window, tuple(ref[max(0, upto - cfg.corr_window) : upto]),
                            cfg.corr_min_pairs)  # fmt: skip
        prev = rows[i - 1] if i > 0 else None
        gap = prev is not None and (
            row["open_time"] > prev["open_time"] + MINUTE_MS
            or row["first_trade_id"] > prev["last_trade_id"] + 1
        )
        sigma_before = sigmas[i - 1] if i > 0 else math.nan
        out.append(
            FeatureSet(
                close=float(close[i]),
                log_return=finite_or_none(log_return),
                atr=finite_or_none(float(atrs[i])),
                natr=finite_or_none(float(natrs[i])),
                rv=finite_or_none(float(rvs[i])),
                rho=finite_or_none(rho),
                rho_pairs=pairs,
                trades=row["trade_count"],
                dqc=DqcFlags(
                    gap=gap,
                    outlier=is_outlier(log_return, float(sigma_before), cfg),
                    partial=not row["complete"],
                ),
            )
        )
    return out


async def recompute(
    db: asyncpg.Pool, req: RecomputeRequest, cfg: FeaturesConfig, config_rev: int
) -> RecomputeResult:
    """Recompute ``req``'s period and backfill ``signals``; raise ``Unprocessable`` (nothing
    written) when there are no stored bars in the period."""
    read_from = max(0, req.start_ms - warmup_ms(cfg))
    rows = await db.fetch(SELECT_BARS, req.venue_kind, req.symbol, read_from, req.end_ms)
    first = next((i for i, r in enumerate(rows) if r["open_time"] >= req.start_ms), None)
    if first is None:
        raise Unprocessable(
            f"no stored {req.venue_kind} bars for {req.symbol} in [{req.start_ms}, {req.end_ms})",
            hint="check the symbol, venue_kind and period (bars_1m holds what S1 recorded)",
        )
    ref_rows = None
    if req.symbol != cfg.reference_symbol:
        ref_rows = await db.fetch(
            SELECT_BARS, req.venue_kind, cfg.reference_symbol, read_from, req.end_ms
        )
    features = bar_features(rows, ref_rows, cfg)[first:]
    period = rows[first:]
    t0s = [r["open_time"] + MINUTE_MS for r in period]
    ids = [signal_id_of(req.symbol, t0) for t0 in t0s]
    payloads = [_encode(f).decode() for f in features]
    event_id = (
        f"{FEATURE_RECOMPUTE}:{req.venue_kind}:{req.symbol}:{req.start_ms}:{req.end_ms}:"
        f"{config_rev}"
    )
    async with db.acquire() as conn, conn.transaction():
        results = await conn.fetch(UPSERT_SIGNALS, ids, req.symbol, t0s, payloads, config_rev)
        inserted = sum(1 for r in results if r["inserted"])
        body = {
            "venue_kind": req.venue_kind, "start_ms": req.start_ms, "end_ms": req.end_ms,
            "bars": len(period), "inserted": inserted, "updated": len(results) - inserted,
            "config_rev": config_rev, "requested_by": req.requested_by,
        }  # fmt: skip
        await conn.execute(
            UPSERT_EVENT, event_id, FEATURE_RECOMPUTE, req.symbol, _encode(body).decode(),
            int(time.time() * 1000),
        )  # fmt: skip
    return RecomputeResult(
        event_id=event_id,
        symbol=req.symbol,
        venue_kind=req.venue_kind,
        start_ms=req.start_ms,
        end_ms=req.end_ms,
        bars=len(period),
        inserted=inserted,
        updated=len(results) - inserted,
        config_rev=config_rev,
    )
