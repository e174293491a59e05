"""Start the paper venue in-process on a free port (synthetic, seeded, fast) for tests.

Use ``running_venue(...)`` directly, or the ``paper_venue`` fixture: import it into a test
module (``from tests.chimera.paper.venue_fixtures import paper_venue  # noqa: F401``). Tests that
need the trading side pass a plugin factory: ``running_venue(plugin_factory=make_plugin)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

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


@pytest.fixture
async def paper_venue() -> AsyncIterator[PaperVenue]:
    """A running synthetic paper venue (market side only) on a free port."""
    async with running_venue() as venue:
        yield venue
