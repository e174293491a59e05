"""S6's entry step on real Redis: SL/TP for a filled FUT entry, B7 release for an empty one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chimera import names
from chimera.config.bundle import parse_bundle
from chimera.config.positions import PositionsConfig
from chimera.domain.orders import OrderIntent
from chimera.risk import RiskLedger
from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from handlers.s6_positions.protection import protective_prices
from tests.handlers.s6_positions.support import (
    CONFIG,
    ENTRY,
    SIGNAL,
    Deliverer,
    make_app,
    publish_features,
    result,
)


async def test_a_filled_buy_entry_gets_a_reduce_only_stop_and_take_profit(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    worker = Deliverer(make_app(tmp_path), rclient)
    event = result()
    entry_id = await worker.add(event)
    sl, tp = await worker.deliver(entry_id, event)
    common: dict[str, Any] = {
        "market": "FUT",
        "symbol": "BTCUSDT",
        "side": "sell",
        "qty": Decimal("0.003"),
        "reduce_only": True,
        "signal_id": SIGNAL,
        "pos_id": ENTRY,
        "config_rev": 7,
        "created_ts_ms": 1_700_000_041_000,
    }
    # 1.5 x 120.5 = 180.75 and 3 x 120.5 = 361.5, at the entry price's 0.1 precision, rounded
    # away from the entry.
    assert sl == OrderIntent(
        intent_id=f"{ENTRY}:sl",
        exec="STOP_MARKET",
        purpose="SL",
        trigger_price=Decimal("49819.2"),
        **common,
    )
    assert tp == OrderIntent(
        intent_id=f"{ENTRY}:tp",
        exec="TAKE_PROFIT_MARKET",
        purpose="TP",
        trigger_price=Decimal("50361.5"),
        **common,
    )

    # Redelivered after S2 published a new ATR: the very same intents (S4 dedupes by id and
    # would refuse a different intent under a used id).
    await publish_features(rclient, 400.0)
    assert await worker.deliver(entry_id, event, count=2) == [sl, tp]


async def test_a_filled_sell_entry_without_atr_uses_the_percentage_fallback(
    tmp_path: Path, rclient: RedisClient
) -> None:
    worker = Deliverer(make_app(tmp_path), rclient)
    event = result(
        intent_id="ETHUSDT:1:entry",
        client_order_id="ETHUSDT:1:entry.mt",
        symbol="ETHUSDT",
        side="sell",
        avg_price=Decimal("2000.00"),
        signal_id="ETHUSDT:1",
    )
    sl, tp = await worker.deliver(await worker.add(event), event)
    assert (sl.side, sl.purpose, sl.exec, sl.trigger_price) == (
        "buy",
        "SL",
        "STOP_MARKET",
        Decimal("2020.00"),
    )
    assert (tp.side, tp.purpose, tp.exec, tp.trigger_price) == (
        "buy",
        "TP",
        "TAKE_PROFIT_MARKET",
        Decimal("1960.00"),
    )
    assert sl.reduce_only and tp.reduce_only


@pytest.mark.parametrize(
    ("status", "client_order_id"),
    [("REJECTED", ""), ("EXPIRED", f"{ENTRY}.mk"), ("CANCELED", f"{ENTRY}.mt")],
)
async def test_an_entry_that_filled_nothing_releases_its_reservation_once(
    tmp_path: Path, rclient: RedisClient, status: str, client_order_id: str
) -> None:
    ledger = RiskLedger(rclient)
    held = await ledger.reserve(SIGNAL, "BTCUSDT", Decimal("30"), CONFIG.risk)
    assert held.ok
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)
    worker = Deliverer(make_app(tmp_path), rclient)
    event = result(
        status=status, client_order_id=client_order_id, filled_qty=Decimal(0), avg_price=None
    )
    entry_id = await worker.add(event)
    assert await worker.deliver(entry_id, event) == []
    assert await ledger.usage("BTCUSDT") == (Decimal(0), 0)
    assert await rclient.get(names.risk_concurrency_mirror_key("BTCUSDT")) == b"0"

    # Another signal reserves; redelivering the first result must not release it too.
    other = await ledger.reserve("BTCUSDT:1700000100000", "BTCUSDT", Decimal("30"), CONFIG.risk)
    assert other.ok
    assert await worker.deliver(entry_id, event, count=2) == []
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"purpose": "SL", "intent_id": f"{ENTRY}:sl", "client_order_id": f"{ENTRY}:sl.cd"},
        {"market": "SPOT"},
        {"status": "NEW", "filled_qty": Decimal(0), "avg_price": None},
        {"status": "PARTIALLY_FILLED", "filled_qty": Decimal("0.001")},
        # A post-only leg that ended empty is followed by its taker leg: nothing is released.
        {"status": "CANCELED", "client_order_id": f"{ENTRY}.mm", "filled_qty": Decimal(0)},
        {"status": "REJECTED", "purpose": "EXIT", "filled_qty": Decimal(0), "avg_price": None},
    ],
)
async def test_other_results_are_ignored(
    tmp_path: Path, rclient: RedisClient, fields: dict[str, Any]
) -> None:
    ledger = RiskLedger(rclient)
    await ledger.reserve(SIGNAL, "BTCUSDT", Decimal("30"), CONFIG.risk)
    worker = Deliverer(make_app(tmp_path), rclient)
    event = result(**fields)
    assert await worker.deliver(await worker.add(event), event) == []
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)


def test_prices_fall_back_when_atr_would_put_a_long_stop_below_zero() -> None:
    config = PositionsConfig()
    assert protective_prices("buy", Decimal("10.0"), Decimal("7"), config) == (
        Decimal("9.9"),
        Decimal("10.2"),
    )
    # A distance below the price's precision is still one unit.
    assert protective_prices("sell", Decimal("100"), Decimal("0.01"), config) == (
        Decimal("101"),
        Decimal("99"),
    )


@pytest.mark.parametrize(
    "section",
    [
        "sl_atr_mult: '0'",
        "fallback_sl_pct: '100'",
        "tp_atr_mult: 'NaN'",
        "typo: 1",
        "regime_sl_mult: {EXTREME: '0'}",
        "regime_tp_mult: {extreme: '2'}",
        # 70 % x EXTREME's default 1.5 would put a long's fallback stop below zero.
        "fallback_sl_pct: '70'",
    ],
)
def test_a_bad_positions_section_is_refused_with_its_path(section: str) -> None:
    with pytest.raises(ConfigError, match="positions"):
        parse_bundle(f"positions:\n  {section}\n")


@pytest.mark.parametrize("status", ["CANCELED", "EXPIRED"])
async def test_a_market_entry_that_ended_partly_filled_is_protected_for_what_filled(
    tmp_path: Path, rclient: RedisClient, status: str
) -> None:
    ledger = RiskLedger(rclient)
    await ledger.reserve(SIGNAL, "BTCUSDT", Decimal("30"), CONFIG.risk)
    worker = Deliverer(make_app(tmp_path), rclient)
    event = result(status=status, filled_qty=Decimal("0.001"))
    sl, tp = await worker.deliver(await worker.add(event), event)
    assert (sl.intent_id, sl.qty, sl.trigger_price) == (
        f"{ENTRY}:sl",
        Decimal("0.001"),
        Decimal("49500.0"),  # no ATR: 1 % of 50000.0
    )
    assert (tp.intent_id, tp.qty, tp.trigger_price) == (
        f"{ENTRY}:tp",
        Decimal("0.001"),
        Decimal("51000.0"),
    )
    # A position exists: its reservation stays.
    assert await ledger.usage("BTCUSDT") == (Decimal("30.00"), 1)
