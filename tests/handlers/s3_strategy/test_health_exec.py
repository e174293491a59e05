"""B9's execution column: a MAKER_TAKER entry waits longer as health worsens, then takes at once."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from chimera.config.bundle import ConfigBundle
from chimera.domain.signals import Decision
from handlers.s3_strategy.intents import intent_of
from tests.handlers.s3_strategy.support import T0, bundle, snapshot


def decision(health: str) -> Decision:
    return Decision(
        signal_id="BTCUSDT:1", symbol="BTCUSDT", action="open", reason="ENTRY", config_rev=1,
        t0=T0, ts_ms=1, side="buy", qty=Decimal("0.002"), health=health,
    )  # fmt: skip


@pytest.mark.parametrize(
    "health, exec_style, wait",
    [
        ("GREEN", "MAKER_TAKER", 2_000),
        ("YELLOW", "MAKER_TAKER", 3_000),
        ("ORANGE", "MARKET", None),
        ("RED", "MARKET", None),
        ("PURPLE", "MARKET", None),  # an unknown grade is read as the worst
    ],
)
def test_the_health_grade_sets_the_maker_wait_and_when_to_take(
    health: str, exec_style: str, wait: int | None
) -> None:
    config = bundle(entry_exec="MAKER_TAKER")
    intent = intent_of(decision(health), snapshot(), config)
    assert intent is not None
    assert (intent.exec, intent.maker_wait_ms) == (exec_style, wait)


def test_market_entries_are_unchanged_and_the_matrix_is_configurable() -> None:
    intent = intent_of(decision("RED"), snapshot(), bundle())
    assert intent is not None and (intent.exec, intent.maker_wait_ms) == ("MARKET", None)
    raw = msgspec.to_builtins(bundle(entry_exec="MAKER_TAKER"))
    raw["strategy"]["health_market_from"] = None
    raw["strategy"]["health_maker_wait_mult"] = {"RED": "10"}
    raw["router"]["maker_wait_ms"] = 5_000
    config = msgspec.convert(raw, ConfigBundle)
    intent = intent_of(decision("RED"), snapshot(), config)
    assert intent is not None and intent.exec == "MAKER_TAKER"
    assert intent.maker_wait_ms == config.router.intent_lock_ttl_ms // 2  # 50 s, capped


def test_a_stored_decision_without_a_grade_still_decodes() -> None:
    old = (
        b'{"signal_id":"s","symbol":"BTCUSDT","action":"skip","reason":"X","config_rev":1,'
        b'"t0":1,"ts_ms":1}'
    )
    assert msgspec.json.decode(old, type=Decision).health == "GREEN"
