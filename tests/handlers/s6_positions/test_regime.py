"""S6 prices stops with S2's market regime: per-regime factors, unknown = no factor, pinned."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chimera import names
from chimera.config.positions import PositionsConfig, RegimeMultipliers
from chimera.domain.features import RegimeLabel
from chimera.domain.orders import Side
from chimera.protection import protective_prices
from chimera_workers.connections import RedisClient
from handlers.s6_positions.market import parse_regime
from tests.handlers.s6_positions.support import (
    CONFIG,
    ENTRY,
    Deliverer,
    leg_result,
    make_app,
    publish_features,
    result,
    set_regime,
)

# ATR 120.5 at an entry of 50000.0: today's (NORMAL) stop is 1.5 x ATR = 180.75 -> 180.8 below,
# the take-profit 3 x ATR = 361.5 above.
NORMAL_PRICES = (Decimal("49819.2"), Decimal("50361.5"))
# EXTREME widens both by the default 1.5: 271.125 -> 271.2 and 542.25 -> 542.3.
EXTREME_PRICES = (Decimal("49728.8"), Decimal("50542.3"))


async def protect_once(
    tmp_path: Path, rclient: RedisClient, **config: Any
) -> tuple[Decimal, Decimal]:
    bundle = CONFIG
    if config:
        bundle = msgspec.structs.replace(CONFIG, positions=PositionsConfig(**config))
    worker = Deliverer(make_app(tmp_path), rclient, bundle)
    sl, tp = await worker.send(result())
    assert sl.trigger_price is not None and tp.trigger_price is not None
    return sl.trigger_price, tp.trigger_price


async def test_an_extreme_regime_widens_the_stop_and_take_profit(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    await set_regime(rclient, "EXTREME")
    assert await protect_once(tmp_path, rclient) == EXTREME_PRICES


async def test_a_normal_regime_keeps_todays_prices(tmp_path: Path, rclient: RedisClient) -> None:
    await publish_features(rclient, 120.5)
    await set_regime(rclient, "NORMAL")
    assert await protect_once(tmp_path, rclient) == NORMAL_PRICES


@pytest.mark.parametrize("state", ["absent", "expired", "unreadable"])
async def test_an_unknown_regime_applies_no_factor(
    tmp_path: Path, rclient: RedisClient, state: str
) -> None:
    await publish_features(rclient, 120.5)
    if state == "expired":
        await set_regime(rclient, "EXTREME", expires_ms=1_000)
    elif state == "unreadable":
        await rclient.set(names.REGIME_STATE, b"EXTREME")
    # Even a NORMAL factor other than 1 is not applied when the regime is unknown.
    mults = RegimeMultipliers(normal=Decimal("2"), extreme=Decimal("2"))
    prices = await protect_once(tmp_path, rclient, regime_sl_mult=mults, regime_tp_mult=mults)
    assert prices == NORMAL_PRICES


async def test_regime_factors_come_from_the_positions_config(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    await set_regime(rclient, "FROZEN")
    prices = await protect_once(
        tmp_path,
        rclient,
        regime_sl_mult=RegimeMultipliers(frozen=Decimal("0.5")),
        regime_tp_mult=RegimeMultipliers(frozen=Decimal("2")),
    )
    # 0.5 x 180.75 = 90.375 -> 90.4; 2 x 361.5 = 723.0.
    assert prices == (Decimal("49909.6"), Decimal("50723.0"))


async def test_the_regime_of_the_first_filled_leg_prices_every_leg_of_the_entry(
    tmp_path: Path, rclient: RedisClient
) -> None:
    await publish_features(rclient, 120.5)
    await set_regime(rclient, "NORMAL")
    worker = Deliverer(make_app(tmp_path), rclient)
    first = await worker.send(leg_result("mm", "CANCELED", "0.003", "0.001"))
    await set_regime(rclient, "EXTREME")
    await publish_features(rclient, 400.0)
    second = await worker.send(leg_result("mt", "FILLED", "0.002", "0.002"))
    assert [i.trigger_price for i in first] == [i.trigger_price for i in second]
    assert (first[0].trigger_price, first[1].trigger_price) == NORMAL_PRICES
    assert {i.pos_id for i in first + second} == {ENTRY}


@pytest.mark.parametrize(
    ("regime", "expected"),
    [
        (None, (Decimal("49500.0"), Decimal("51000.0"))),
        ("NORMAL", (Decimal("49500.0"), Decimal("51000.0"))),
        ("FROZEN", (Decimal("49500.0"), Decimal("51000.0"))),
        # 1 % x 1.5 = 750.0 below, 2 % x 1.5 = 1500.0 above.
        ("EXTREME", (Decimal("49250.0"), Decimal("51500.0"))),
    ],
)
def test_the_percentage_fallback_is_scaled_too(
    regime: RegimeLabel | None, expected: tuple[Decimal, Decimal]
) -> None:
    config = PositionsConfig()
    assert protective_prices("buy", Decimal("50000.0"), None, config, regime) == expected


def test_without_a_regime_prices_are_unchanged() -> None:
    config = PositionsConfig()
    sides: tuple[Side, ...] = ("buy", "sell")
    for side in sides:
        for atr in (None, Decimal("120.5"), Decimal("0.01"), Decimal("90000")):
            base = protective_prices(side, Decimal("50000.0"), atr, config)
            assert protective_prices(side, Decimal("50000.0"), atr, config, None) == base
            assert protective_prices(side, Decimal("50000.0"), atr, config, "NORMAL") == base


def test_parse_regime_reads_only_a_valid_unexpired_state() -> None:
    raw = b'{"state":"EXTREME","rv_pct":97.0,"rev":1,"expires_ms":2000,"ts_ms":1}'
    assert parse_regime(raw, 1_999) == "EXTREME"
    assert parse_regime(raw, 2_000) is None
    assert parse_regime(None, 0) is None
    assert parse_regime(b"EXTREME", 0) is None
