"""The instrument catalog: ccxt market dicts from the paper venue become the venue's filters."""

from __future__ import annotations

import copy
import logging
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from chimera.paper.markets import DEFAULT_MARKETS
from chimera.paper.venue import PaperVenue
from chimera.venues.instruments import (
    Instrument,
    InstrumentCatalog,
    instrument_from_ccxt,
    instruments_from_markets,
)
from chimera.venues.settings import VenueSettings
from tests.chimera.paper.venue_fixtures import ccxt_exchange, paper_settings, running_venue

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
KINDS = {"perp": "FUT", "spot": "SPOT"}


@pytest.fixture(scope="module")
async def venue() -> AsyncIterator[PaperVenue]:
    async with running_venue() as running:
        yield running


@pytest.fixture(scope="module")
async def markets(venue: PaperVenue) -> dict[str, dict[str, Any]]:
    """ccxt's ``load_markets()`` of both market kinds, as the services' exchanges load them."""
    loaded: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        async with ccxt_exchange(venue, kind) as exchange:
            loaded[kind] = copy.deepcopy(await exchange.load_markets())  # type: ignore[attr-defined]
    return loaded


def expected(kind: str, symbol: str) -> Instrument:
    spec = next(s for s in DEFAULT_MARKETS if s.kind == kind and s.symbol == symbol)
    return Instrument(
        market=KINDS[kind],  # type: ignore[arg-type]
        symbol=symbol,
        tick_size=spec.tick_size,
        step_size=spec.step_size,
        min_qty=spec.min_qty,
        min_notional=spec.min_notional,
        max_qty=spec.max_qty,
    )


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_a_ccxt_market_converts_to_the_venue_filters(
    markets: dict[str, dict[str, Any]], kind: str, symbol: str
) -> None:
    market = next(m for m in markets[kind].values() if m["id"] == symbol)
    assert instrument_from_ccxt(market) == expected(kind, symbol)


@pytest.mark.parametrize("kind", list(KINDS))
def test_without_binance_filters_the_unified_precision_and_limits_are_used(
    markets: dict[str, dict[str, Any]], kind: str
) -> None:
    # ccxt copies the filters into precision/limits as floats; they convert to the same values.
    for symbol in SYMBOLS:
        market = copy.deepcopy(next(m for m in markets[kind].values() if m["id"] == symbol))
        market["info"] = {k: v for k, v in market["info"].items() if k != "filters"}
        assert instrument_from_ccxt(market) == expected(kind, symbol)


def test_a_whole_load_converts_by_venue_symbol(markets: dict[str, dict[str, Any]]) -> None:
    for kind, loaded in markets.items():
        instruments = instruments_from_markets(loaded)
        assert sorted(instruments) == sorted(SYMBOLS)
        assert {i.market for i in instruments.values()} == {KINDS[kind]}


def test_markets_that_are_not_spot_or_linear_swaps_are_left_out(
    markets: dict[str, dict[str, Any]],
) -> None:
    inverse = copy.deepcopy(next(iter(markets["perp"].values())))
    inverse["linear"], inverse["inverse"] = False, True
    assert instrument_from_ccxt(inverse) is None


def test_a_market_without_a_step_is_refused(markets: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(next(iter(markets["spot"].values())))
    broken["info"]["filters"] = []
    broken["precision"]["amount"] = None
    with pytest.raises(ValueError, match="tick/step"):
        instrument_from_ccxt(broken)
    assert instruments_from_markets({"X": broken}) == {}


async def test_the_catalog_loads_lazily_once_and_refreshes_after_its_ttl(
    venue: PaperVenue,
) -> None:
    now = [1000.0]
    catalog = InstrumentCatalog(paper_settings(venue), ttl_s=60, clock=lambda: now[0])
    assert catalog.loads == 0 and catalog.peek("FUT", "BTCUSDT") is None  # nothing yet
    assert await catalog.get("FUT", "BTCUSDT") == expected("perp", "BTCUSDT")
    assert await catalog.get("FUT", "SOLUSDT") == expected("perp", "SOLUSDT")
    assert await catalog.get("FUT", "DOGEUSDT") is None
    assert catalog.loads == 1  # one load per market kind
    assert await catalog.get("SPOT", "ETHUSDT") == expected("spot", "ETHUSDT")
    assert catalog.loads == 2
    now[0] += 59
    await catalog.get("FUT", "BTCUSDT")
    assert catalog.loads == 2
    now[0] += 2
    await catalog.get("FUT", "BTCUSDT")
    assert catalog.loads == 3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_venue_leaves_the_catalog_empty_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    settings = VenueSettings(paper_url=f"http://127.0.0.1:{_closed_port()}", timeout_ms=1000)
    catalog = InstrumentCatalog(settings, retry_s=30, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="chimera.venues.instruments"):
        assert await catalog.get("FUT", "BTCUSDT") is None
        assert await catalog.get("FUT", "BTCUSDT") is None  # within retry_s: no new attempt
        now[0] += 31
        assert await catalog.get("FUT", "BTCUSDT") is None  # tried again, still down
    warnings = [r for r in caplog.records if r.name == "chimera.venues.instruments"]
    assert len(warnings) == 1 and "qty_step" in warnings[0].getMessage()
    assert catalog.loads == 0


async def test_a_catalog_keeps_stale_instruments_when_a_refresh_fails(venue: PaperVenue) -> None:
    now = [0.0]
    catalog = InstrumentCatalog(paper_settings(venue), ttl_s=10, clock=lambda: now[0])
    assert await catalog.refresh("SPOT")
    catalog.settings = VenueSettings(paper_url=f"http://127.0.0.1:{_closed_port()}")
    now[0] += 11
    assert await catalog.get("SPOT", "BTCUSDT") == expected("spot", "BTCUSDT")
    assert catalog.loads == 1


def test_max_qty_and_min_notional_fall_back_to_zero_and_none() -> None:
    market = {
        "id": "XUSDT",
        "symbol": "X/USDT",
        "spot": True,
        "precision": {"amount": 0.1, "price": 0.001},
        "limits": {"amount": {"min": None, "max": None}, "cost": {"min": None}},
        "info": {},
    }
    assert instrument_from_ccxt(market) == Instrument(
        "SPOT", "XUSDT", Decimal("0.001"), Decimal("0.1"), Decimal(0), Decimal(0), None
    )
