"""S4's pure parts: client order ids, slippage sign, the router config, the p95 window."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from chimera.config.bundle import load_bundle, parse_bundle
from chimera.config.router import RouterConfig
from chimera_workers.errors import ConfigError
from handlers.s4_router.book import BookSnapshot, slippage_bps
from handlers.s4_router.ids import MAX_CLIENT_ID, client_order_id, id_base, slice_leg
from handlers.s4_router.runtime import RouterMetrics
from handlers.s4_router.twap import member, parse_member

BUNDLE = Path(__file__).resolve().parents[3] / "config" / "bundle.yaml"
BINANCE_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


@pytest.mark.parametrize(
    "intent_id",
    ["sig-1:open", "x" * 30, "x" * 31, "BTCUSDT:1700000000000:open:with-a-long-tail", "a b/ü"],
)
def test_client_order_ids_fit_binance_and_are_pure(intent_id: str) -> None:
    ids = {client_order_id(intent_id, leg) for leg in ("mk", "mm", "mt", "x", slice_leg(999))}
    assert len(ids) == 5
    for coid in ids:
        assert BINANCE_ID.match(coid) and len(coid) <= MAX_CLIENT_ID
        assert coid.startswith(id_base(intent_id) + ".")
    assert client_order_id(intent_id, "mk") == client_order_id(intent_id, "mk")
    assert (id_base(intent_id) == intent_id) == (len(intent_id) <= 30 and " " not in intent_id)
    with pytest.raises(ValueError, match="leg"):
        client_order_id(intent_id, "Bad.Leg")


def test_slippage_is_positive_when_worse_than_mid() -> None:
    mid = Decimal("100")
    assert slippage_bps("buy", Decimal("100.1"), mid) == Decimal("10.0000")
    assert slippage_bps("sell", Decimal("100.1"), mid) == Decimal("-10.0000")
    assert slippage_bps("sell", Decimal("99.95"), mid) == Decimal("5.0000")
    assert slippage_bps("buy", Decimal("1"), None) is None
    book = BookSnapshot(
        bids=((Decimal("99"), Decimal("1")),), asks=((Decimal("101"), Decimal("2")),), ts_ms=0
    )
    assert book.mid == Decimal("100") and book.touch("buy") == Decimal("99")
    assert book.far_top3("buy") == ((Decimal("101"), Decimal("2")),)


def test_router_section_of_the_bundle() -> None:
    assert load_bundle(BUNDLE).router == RouterConfig()
    with pytest.raises(ConfigError, match=r"unknown field `maker_wait` - at `\$.router`"):
        parse_bundle("router: {maker_wait: 5}")
    with pytest.raises(ConfigError, match="at most half of intent_lock_ttl_ms"):
        parse_bundle("router: {maker_wait_ms: 40000}")
    with pytest.raises(ConfigError, match=r"\$.router.twap_batch"):
        parse_bundle("router: {twap_batch: 0}")


def test_twap_members_and_p95() -> None:
    assert parse_member(member("a|b", 7).encode()) == ("a|b", 7)
    assert parse_member(b"nonsense") is None
    metrics = RouterMetrics()
    metrics.latencies_ms.extend(float(v) for v in range(1, 101))
    assert metrics.p95() == 95.0
    assert RouterMetrics().p95() == 0.0
