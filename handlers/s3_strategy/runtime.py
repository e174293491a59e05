"""What one S3 process keeps between decisions: the venue's instrument catalog.

Workers get it through the topology's ``resources:`` hook (``instruments_runtime``, name
``s3_instruments``); the ``/decide`` mount enters one in its lifespan. The catalog is lazy:
entering the resource connects to nothing, the first entry that reaches sizing loads the
venue's markets (``VenueSettings.from_env``). A worker without the resource sizes on the
config's ``qty_step`` alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from chimera.venues.instruments import InstrumentCatalog
from chimera.venues.settings import VenueSettings

RESOURCE_NAME = "s3_instruments"


@asynccontextmanager
async def instruments_runtime(environ: Mapping[str, str]) -> AsyncIterator[InstrumentCatalog]:
    """The ``resources:`` factory: a catalog on ``VenueSettings.from_env(environ)``."""
    # Read now, so a bad CHIMERA_VENUE setting stops the worker at start, not at a decision.
    yield InstrumentCatalog(VenueSettings.from_env(dict(environ)))


def catalog_of(extra: Mapping[str, object]) -> InstrumentCatalog | None:
    """Return the worker's catalog, or None when the topology declares none."""
    catalog = extra.get(RESOURCE_NAME)
    return catalog if isinstance(catalog, InstrumentCatalog) else None


__all__ = ["RESOURCE_NAME", "catalog_of", "instruments_runtime"]
