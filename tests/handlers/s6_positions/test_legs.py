"""Entries that fill in several orders: MAKER_TAKER (``.mm`` then ``.mt``) and TWAP (``.s<i>``).

Every filled leg is protected by its own SL/TP pair at the entry's pinned prices, so the stops add
up to exactly what the entry filled; the B7 reservation goes back only when the whole entry ended
with nothing filled.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from chimera.domain.orders import OrderIntent, OrderResult
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from tests.handlers.s6_positions.support import (
    CONFIG,
    ENTRY,
    SIGNAL,
    Deliverer,
    entry_intent,
    leg_result,
    make_app,
    publish_features,
    published_intents,
    store_as_s4,
)

OTHER_SIGNAL = "BTCUSDT:1700000100000"
# ATR 120.5 at 50000.0 (the first filled leg's price): SL 180.75 -> 180.8 below, TP 361.5 above.
SL, TP = Decimal("49819.2"), Decimal("50361.5")


def pair(leg: str, qty: str, ts_ms: int = 1_700_000_041_000) -> list[OrderIntent]:
    """The SL and TP intents S6 must emit for ``qty`` filled by ``leg`` of ``ENTRY``."""
    common = {
        "market": "FUT",
        "symbol": "BTCUSDT",
        "side": "sell",
        "qty": Decimal(qty),
        "reduce_only": True,
        "signal_id": SIGNAL,
        "pos_id": ENTRY,
        "config_rev": 7,
        "created_ts_ms": ts_ms,
    }
    return [
        OrderIntent(
            intent_id=f"{ENTRY}:{leg}:sl",
            exec="STOP_MARKET",
            purpose="SL",
            trigger_price=SL,
            **common,  # type: ignore[arg-type]
        ),
        OrderIntent(
            intent_id=f"{ENTRY}:{leg}:tp",
            exec="TAKE_PROFIT_MARKET",
            purpose="TP",
            trigger_price=TP,
            **common,  # type: ignore[arg-type]
        ),
    ]


async def reserved(rclient: RedisClient) -> RiskLedger:
    ledger = RiskLedger(rclient)
    assert (await ledger.reserve(SIGNAL, "BTCUSDT", Decimal("30"), CONFIG.risk)).ok
    return ledger


async def deliver_all(worker: Deliverer, events: list[OrderResult]) -> list[OrderIntent]:
    """Add and deliver each event once; then redeliver every one of them."""
    ids = [await worker.add(event) for event in events]
    emitted = []
    for entry_id, event in zip(ids, events, strict=True):
        emitted += await worker.deliver(entry_id, event)
    for entry_id, event in zip(ids, events, strict=True):
        await worker.deliver(entry_id, event, count=2)
    return emitted


def stop_total(intents: list[OrderIntent]) -> Decimal:
    return sum((i.qty for i in intents if i.purpose == "SL"), Decimal(0))


async def test_a_partly_filled_maker_then_a_filled_taker_are_both_protected(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient)
    maker = leg_result("mm", "CANCELED", "0.003", "0.001", ts_ms=1_700_000_043_000)
    taker = leg_result(
        "mt", "FILLED", "0.002", "0.002", avg_price=Decimal("50010.0"), ts_ms=1_700_000_043_100
    )
    # The maker's partial fills before it ended are not protected on their own: its final
    # result protects everything it filled.
    partial = leg_result("mm", "PARTIALLY_FILLED", "0.003", "0.001", ts_ms=1_700_000_042_000)
    emitted = await deliver_all(worker, [partial, maker, taker])
    expected = pair("mm", "0.001", 1_700_000_043_000) + pair("mt", "0.002", 1_700_000_043_100)
    assert emitted == expected
    assert stop_total(emitted) == Decimal("0.003")
    # Redelivering every result re-sent the same intents, nothing else.
    assert await published_intents(rclient) == expected * 2
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)


async def test_a_fully_filled_maker_gets_one_pair(tmp_path: Path, rclient: RedisClient) -> None:
    await publish_features(rclient, 120.5)
    worker = Deliverer(make_app(tmp_path), rclient)
    emitted = await deliver_all(worker, [leg_result("mm", "FILLED", "0.003", "0.003")])
    assert emitted == pair("mm", "0.003")
    assert await published_intents(rclient) == pair("mm", "0.003") * 2


async def test_an_empty_taker_after_a_partly_filled_maker_releases_nothing(
    tmp_path: Path, rclient: RedisClient
) -> None:
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient)
    await worker.send(leg_result("mm", "CANCELED", "0.003", "0.001"))
    assert await worker.send(leg_result("mt", "REJECTED", "0.002", "0")) == []
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)


async def test_s4s_rows_guard_the_release_against_results_out_of_order(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient, db=pool)
    maker = leg_result("mm", "CANCELED", "0.003", "0.001")
    taker = leg_result("mt", "EXPIRED", "0.002", "0")
    await store_as_s4(pool, entry_intent("MAKER_TAKER", 1), [maker, taker])
    # The taker's result comes first: S6 has not seen the maker's fill, S4's rows have.
    assert await worker.send(taker) == []
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)
    assert stop_total(await worker.send(maker)) == Decimal("0.001")


@pytest.mark.parametrize(
    ("maker", "released"),
    [
        # Refused for another reason than crossing: S4 sends no taker, the entry is over.
        (leg_result("mm", "REJECTED", "0.003", "0", message="Margin is insufficient."), True),
        # Would have crossed, or expired / cancelled empty: the taker follows.
        (leg_result("mm", "REJECTED", "0.003", "0", message="POST_ONLY_WOULD_CROSS: x"), False),
        (leg_result("mm", "EXPIRED", "0.003", "0"), False),
        (leg_result("mm", "CANCELED", "0.003", "0"), False),
    ],
)
async def test_an_empty_maker_releases_only_when_no_taker_follows(
    tmp_path: Path, rclient: RedisClient, maker: OrderResult, released: bool
) -> None:
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient)
    assert await worker.send(maker) == []
    assert await ledger.usage("BTCUSDT") == ((Decimal(0), 0) if released else (Decimal("30.00"), 1))
    if not released:
        # The taker ends empty too: now the entry is over, with nothing filled.
        assert await worker.send(leg_result("mt", "EXPIRED", "0.003", "0")) == []
        assert await ledger.usage("BTCUSDT") == (Decimal(0), 0)


async def test_each_twap_slice_is_protected_as_it_fills(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient)
    slices = [
        leg_result(f"s{i}", "FILLED", "0.001", "0.001", avg_price=price, ts_ms=ts)
        for i, (price, ts) in enumerate(
            [
                (Decimal("50000.0"), 1_700_000_041_000),
                (Decimal("50100.0"), 1_700_000_101_000),
                (Decimal("49900.0"), 1_700_000_161_000),
            ]
        )
    ]
    expected: list[OrderIntent] = []
    for i, event in enumerate(slices):
        # A new ATR between slices changes nothing: the first slice pinned the prices.
        await publish_features(rclient, 120.5 + 100 * i)
        got = await worker.send(event)
        assert got == pair(f"s{i}", "0.001", event.ts_ms)
        expected += got
    assert stop_total(expected) == Decimal("0.003")
    assert sum(i.qty for i in expected if i.purpose == "TP") == Decimal("0.003")
    assert await published_intents(rclient) == expected
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)


async def test_a_twap_that_ended_empty_releases_once_after_its_last_slice(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient, db=pool)
    slices = [
        leg_result(f"s{i}", "REJECTED", "0.001", "0", message="KILL_SWITCH") for i in range(3)
    ]
    await store_as_s4(pool, entry_intent("TWAP", 3), slices)
    ids = [await worker.add(event) for event in slices]
    # Slices end out of order; only the last one to end closes the entry.
    for n, i in enumerate([2, 0, 1]):
        assert await worker.deliver(ids[i], slices[i]) == []
        assert await ledger.usage("BTCUSDT") == (
            (Decimal(0), 0) if n == 2 else (Decimal("30.00"), 1)
        )
    # Another signal reserves; redelivering every slice result releases nothing more.
    assert (await ledger.reserve(OTHER_SIGNAL, "BTCUSDT", Decimal("30"), CONFIG.risk)).ok
    for entry_id, event in zip(ids, slices, strict=True):
        assert await worker.deliver(entry_id, event, count=2) == []
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)
    assert await published_intents(rclient) == []


async def test_a_twap_with_one_filled_slice_keeps_its_reservation(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    ledger = await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient, db=pool)
    slices = [
        leg_result("s0", "EXPIRED", "0.001", "0"),
        leg_result("s1", "FILLED", "0.001", "0.001"),
        leg_result("s2", "EXPIRED", "0.001", "0"),
    ]
    await store_as_s4(pool, entry_intent("TWAP", 3), slices)
    emitted = await deliver_all(worker, slices)
    assert [i.intent_id for i in emitted] == [f"{ENTRY}:s1:sl", f"{ENTRY}:s1:tp"]
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)


async def test_an_empty_twap_slice_needs_postgresql(tmp_path: Path, rclient: RedisClient) -> None:
    await reserved(rclient)
    worker = Deliverer(make_app(tmp_path), rclient)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        await worker.send(leg_result("s0", "EXPIRED", "0.001", "0"))
    # A filled slice is protected without it.
    assert stop_total(await worker.send(leg_result("s1", "FILLED", "0.001", "0.001"))) == Decimal(
        "0.001"
    )


async def test_a_redelivery_after_a_config_activation_resends_identical_intents(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    app = make_app(tmp_path)
    event = leg_result("mt", "FILLED", "0.003", "0.003")
    first = Deliverer(app, rclient)
    entry_id = await first.add(event)
    sent = await first.deliver(entry_id, event)
    later = Deliverer(app, rclient, config_rev=8)
    assert await later.deliver(entry_id, event, count=2) == sent


async def test_a_leg_reported_filled_after_an_empty_end_is_still_protected(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    worker = Deliverer(make_app(tmp_path), rclient)
    assert await worker.send(leg_result("mm", "CANCELED", "0.003", "0")) == []
    emitted = await worker.send(leg_result("mm", "CANCELED", "0.003", "0.001"))
    assert emitted == pair("mm", "0.001")
    # The empty report again changes nothing: the fill stays recorded and protected.
    assert await worker.send(leg_result("mm", "CANCELED", "0.003", "0")) == []
    assert await worker.send(leg_result("mm", "CANCELED", "0.003", "0.001")) == emitted
