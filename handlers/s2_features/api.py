"""``POST /features/recompute`` (internal, service token): S2's feature backfill endpoint.

Body ``RecomputeRequest``; 200 with a ``RecomputeResult``. Errors (``ErrorBody``): 400 a bad
body, naming the field (nothing written); 401 missing/wrong service token; 422 no stored bars
in the period (nothing written).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from chimera.config.features import FeaturesConfig
from chimera.config.store import load_active
from chimera.http import ErrorBody, Mount, service_token_guard
from chimera.http.app import DbDep
from chimera_workers.errors import ConfigError
from handlers.s2_features.recompute import RecomputeRequest, RecomputeResult, recompute

RECOMPUTE_PATH = "/features/recompute"


class FeaturesSettings:
    """A fixed ``features:`` config and revision for recompute runs, or None: the active one."""

    __slots__ = ("config", "rev")

    def __init__(self, config: FeaturesConfig | None, rev: int) -> None:
        self.config = config
        self.rev = rev


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description)


@post(
    RECOMPUTE_PATH,
    summary="Recompute a period's features from stored bars and backfill signals (internal)",
    description=__doc__,
    status_code=200,
    responses={
        400: _error("invalid body (the detail names the field); nothing written"),
        401: _error("missing or wrong service token"),
        422: _error("no stored bars in the period; nothing written"),
    },
)
async def recompute_features(
    data: JSONBody[RecomputeRequest],
    db: DbDep,
    features_settings: NamedDependency[FeaturesSettings],
) -> RecomputeResult:
    """Recompute ``data``'s period and write the signals and the FEATURE_RECOMPUTE event."""
    config, rev = features_settings.config, features_settings.rev
    if config is None:  # the revision active now (config_active), like every service
        bundle, rev = await load_active(db)
        config = bundle.features
    return await recompute(db, data, config, rev)


def provide_features_settings(state: State) -> FeaturesSettings:
    """Return the settings the features mount's lifespan put on the app."""
    settings: FeaturesSettings | None = state.get("features_settings")
    if settings is None:
        raise ConfigError("the features routes are not mounted in this app")
    return settings


features_router = Router(
    path="/",
    route_handlers=[recompute_features],
    guards=[service_token_guard],
    dependencies={"features_settings": Provide(provide_features_settings, sync_to_thread=False)},
    tags=["s2 features"],
)


def features_mount(*, config: FeaturesConfig | None = None, config_rev: int = 0) -> Mount:
    """Return S2's routes. Without ``config``, each run uses the ``features:`` section of the
    active bundle (``config_active``, else the bundle file as revision 0) and its revision."""
    settings = FeaturesSettings(config, config_rev)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.features_settings = settings
        yield

    return Mount(route_handlers=(features_router,), lifespans=(lifespan,))


__all__ = ["RECOMPUTE_PATH", "features_mount", "features_router", "recompute_features"]
