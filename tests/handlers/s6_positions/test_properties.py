"""Property: whatever order and duplication the results of one entry's legs arrive in, S6 emits
stops for exactly what the entry filled, each intent id always with the same content, and releases
the reservation exactly when the entry filled nothing."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera.domain.orders import OrderIntent, OrderResult
from chimera.risk import RiskLedger
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.migrations import upgrade
from tests.handlers.s3_strategy.support import ROOT
from tests.handlers.s6_positions.support import (
    CONFIG,
    Deliverer,
    entry_intent,
    leg_result,
    make_app,
    store_as_s4,
)

LOT = Decimal("0.001")
PRICES = [Decimal("50000.0"), Decimal("50012.5"), Decimal("49990.1")]
_example = itertools.count()
_migrated: set[str] = set()


@st.composite
def maker_taker(draw: st.DrawFn) -> list[tuple[str, str, int, int, str]]:
    """(leg, status, qty lots, filled lots, message) of a MAKER_TAKER entry of 3 lots."""
    maker = draw(st.integers(0, 3))
    if maker == 3:
        legs = [("mm", "FILLED", 3, 3, "")]
    elif maker == 0 and draw(st.booleans()):
        # Refused (not crossing): no taker follows.
        return [("mm", "REJECTED", 3, 0, "Margin is insufficient.")]
    else:
        ended = draw(
            st.sampled_from(["CANCELED", "EXPIRED"] + (["REJECTED"] if maker == 0 else []))
        )
        message = "POST_ONLY_WOULD_CROSS: x" if ended == "REJECTED" else ""
        legs = [("mm", ended, 3, maker, message)]
        rest = 3 - maker
        taker = draw(st.integers(0, rest))
        status = "FILLED" if taker == rest else draw(st.sampled_from(["EXPIRED", "CANCELED"]))
        legs.append(("mt", status, rest, taker, ""))
    # Intermediate states of the resting maker.
    for filled in draw(st.lists(st.integers(0, legs[0][3]), max_size=2)):
        legs.append(("mm", "PARTIALLY_FILLED" if filled else "NEW", 3, filled, ""))
    return legs


@st.composite
def twap(draw: st.DrawFn) -> list[tuple[str, str, int, int, str]]:
    """(leg, status, qty lots, filled lots, message) of a TWAP entry of 1 lot per slice."""
    legs = []
    for i in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            legs.append((f"s{i}", "FILLED", 1, 1, ""))
        else:
            legs.append((f"s{i}", draw(st.sampled_from(["REJECTED", "EXPIRED"])), 1, 0, ""))
    return legs


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    exec_and_legs=st.one_of(
        st.tuples(st.just("MAKER_TAKER"), maker_taker()), st.tuples(st.just("TWAP"), twap())
    ),
    data=st.data(),
)
def test_property_stops_cover_exactly_what_filled_whatever_the_delivery_order(
    tmp_path: Path,
    redis_url: str,
    db_url: str,
    exec_and_legs: tuple[str, list[tuple[str, str, int, int, str]]],
    data: st.DataObject,
) -> None:
    exec_style, legs = exec_and_legs
    n = next(_example)
    signal = f"BTCUSDT:{n}"
    entry = f"{signal}:entry"
    results = [
        leg_result(
            leg,
            status,
            str(qty * LOT),
            str(filled * LOT),
            intent_id=entry,
            signal_id=signal,
            avg_price=data.draw(st.sampled_from(PRICES)) if filled else None,
            message=message,
            ts_ms=1_700_000_041_000 + i,
        )
        for i, (leg, status, qty, filled, message) in enumerate(legs)
    ]
    duplicates = data.draw(st.lists(st.sampled_from(results), max_size=6))
    sequence = data.draw(st.permutations(results + duplicates))
    intent = entry_intent(
        exec_style, len(legs) if exec_style == "TWAP" else 1, intent_id=entry, signal_id=signal
    )
    final = [r for r in results if r.status not in ("NEW", "PARTIALLY_FILLED")]
    filled = sum((r.filled_qty for r in final), Decimal(0))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(
            check(tmp_path, redis_url, db_url, intent, final, sequence, signal, filled)
        )
    finally:
        loop.close()


async def check(
    tmp_path: Path,
    redis_url: str,
    db_url: str,
    intent: OrderIntent,
    final: list[OrderResult],
    sequence: list[OrderResult],
    signal: str,
    filled: Decimal,
) -> None:
    redis = await open_redis(redis_url)
    pool: asyncpg.Pool = await open_db_pool(db_url)
    try:
        if db_url not in _migrated:
            await upgrade(pool, ROOT / "migrations")
            _migrated.add(db_url)
        # S4 writes the intent and each order's final row before it publishes that result.
        await store_as_s4(pool, intent, final)
        ledger = RiskLedger(redis)
        assert (await ledger.reserve(signal, "BTCUSDT", Decimal("30"), CONFIG.risk)).ok
        worker = Deliverer(make_app(tmp_path), redis, db=pool)
        emitted: dict[str, Any] = {}
        for event in sequence:
            for sent in await worker.send(event):
                assert emitted.setdefault(sent.intent_id, sent) == sent
        stops = [i for i in emitted.values() if i.purpose == "SL"]
        takes = [i for i in emitted.values() if i.purpose == "TP"]
        assert sum((i.qty for i in stops), Decimal(0)) == filled
        assert sum((i.qty for i in takes), Decimal(0)) == filled
        assert len(stops) == len(takes) == sum(1 for r in final if r.filled_qty > 0)
        assert len({i.trigger_price for i in stops}) <= 1  # one pinned price per entry
        assert len({i.trigger_price for i in takes}) <= 1
        # Released by S6 exactly when nothing filled (a release now finds nothing to give back).
        assert (not await ledger.release(signal, "BTCUSDT")) == (filled == 0)
    finally:
        await pool.close()
        await redis.aclose()
