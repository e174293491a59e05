"""Start the paper venue in-process on a free port (synthetic, seeded, fast) for tests.

Use ``running_venue(...)`` directly, or the ``paper_venue`` fixture: import it into a test
module (``from tests.chimera.paper.venue_fixtures import paper_venue  # noqa: F401``). Tests that
need the trading side pass a plugin factory: ``running_venue(plugin_factory=make_plugin)``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest

from chimera.paper.market.events import MarketEvent, TradeMsg
from chimera.paper.markets import VenueKind
from chimera.paper.settings import PaperVenueConfig
from chimera.paper.venue import PaperVenue, PluginFactory
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.settings import VenueSettings

TEST_SEED = 1234
# Three minutes of market history exist before the first client connects.
TEST_WARMUP_MS = 180_000


def venue_config(**overrides: object) -> PaperVenueConfig:
    """Return a test venue config: port 0, seeded synthetic market, short warm-up."""
    fields: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "seed": TEST_SEED,
        "speed": 1.0,
        "warmup_ms": TEST_WARMUP_MS,
    }
    fields.update(overrides)
    return PaperVenueConfig(**fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_venue(
    config: PaperVenueConfig | None = None, plugin_factory: PluginFactory | None = None
) -> AsyncIterator[PaperVenue]:
    """Run a venue for the duration of the ``async with`` block."""
    venue = PaperVenue(config or venue_config(), plugin_factory)
    await venue.start()
    try:
        yield venue
    finally:
        await venue.stop()


def paper_settings(venue: PaperVenue) -> VenueSettings:
    """Return the VenueSettings that point ccxt at ``venue``."""
    return VenueSettings(mode="paper", paper_url=venue.base_url)


@contextlib.asynccontextmanager
async def ccxt_exchange(venue: PaperVenue, kind: str) -> AsyncIterator[object]:
    """Yield ccxt's binance ('spot') or binanceusdm ('perp') pointed at ``venue``; closed after."""
    exchange = make_exchange(kind, paper_settings(venue))  # type: ignore[arg-type]
    try:
        yield exchange
    finally:
        await exchange.close()


_trade_ids = itertools.count(10**12)


def print_trade(
    venue: PaperVenue,
    price: Decimal,
    *,
    kind: VenueKind = "spot",
    symbol: str = "BTCUSDT",
    buyer_is_maker: bool = False,
) -> None:
    """Print one trade of 1 unit at ``price`` on the venue's market: fills what it crosses and
    fires triggers, as a trade on the feed would."""
    trade_id = next(_trade_ids)
    now = venue.hub.clock.now_ms()
    message = TradeMsg(s=symbol, t=trade_id, p=price, q=Decimal(1), m=buyer_is_maker, E=now, T=now)
    data = msgspec.json.encode({"e": "trade", **msgspec.structs.asdict(message)})
    stream = f"{symbol.lower()}@trade"
    venue.hub.apply(MarketEvent(now, kind, symbol, "trade", stream, data, message))


@pytest.fixture
async def paper_venue() -> AsyncIterator[PaperVenue]:
    """A running synthetic paper venue (market side only) on a free port."""
    async with running_venue() as venue:
        yield venue
