"""``POST /reconcile`` (internal, service token): one S5 run over HTTP (spec flow B4).

The body is a ``ReconcileRequest`` (``scope``: ALL | ORDERS | POSITIONS, default ALL); the answer
is the run's ``ReconcileReport``: ORDERS the open orders, POSITIONS the FUT positions (repairs
and the stop check), ALL both (and only a successful ALL run opens the start-up gate). 400 a
bad body naming the field (nothing written), 401 a missing/wrong service token.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from litestar import Litestar, Response, post
from litestar import Router as HttpRouter
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from chimera.config.bundle import ConfigBundle
from chimera.config.store import load_active
from chimera.http import ErrorBody, Mount, service_token_guard
from chimera.http.app import provide_db, provide_redis
from chimera.venues.settings import VenueSettings
from chimera_workers.errors import ConfigError
from handlers.s4_router.handlers import RedisSink
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import RouterRuntime, VenuePool
from handlers.s5_reconciler.reconciler import Reconciler
from handlers.s5_reconciler.report import ReconcileReport, ReconcileRequest

RECONCILE_PATH = "/reconcile"
STREAMS_ENV = "CHIMERA_STREAMS"


class _Topology(msgspec.Struct):
    symbols: list[str] = []


def topology_symbols(path: Path | str | None = None) -> tuple[str, ...]:
    """Return the ``symbols:`` of the topology file (``$CHIMERA_STREAMS`` or streams.yaml)."""
    target = Path(path or os.environ.get(STREAMS_ENV) or "streams.yaml")
    try:
        return tuple(msgspec.yaml.decode(target.read_bytes(), type=_Topology).symbols)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(
            f"cannot read the symbols of {target}: {exc}",
            hint=f"point ${STREAMS_ENV} at the topology file",
        ) from exc


@post(
    RECONCILE_PATH,
    summary="Reconcile the venue's open orders and positions with the DB's (internal)",
    description=__doc__,
    status_code=200,
    responses={
        400: ResponseSpec(ErrorBody, description="invalid body (the field is named)"),
        401: ResponseSpec(ErrorBody, description="missing or wrong service token"),
    },
)
async def reconcile(
    data: JSONBody[ReconcileRequest], s5: NamedDependency[Reconciler]
) -> Response[ReconcileReport]:
    """Run one reconcile of ``data.scope`` and answer its report."""
    return Response(await s5.run(data.scope), status_code=200)


async def provide_reconciler(state: State) -> Reconciler:
    """Return a ``Reconciler`` on the app's connections, the mount's runtime and config."""
    runtime: RouterRuntime | None = state.get("s5_runtime")
    if runtime is None:
        raise ConfigError("the S5 reconciler is not running in this app")
    redis, db = provide_redis(state), provide_db(state)
    bundle: ConfigBundle | None = state.get("s5_config")
    if bundle is None:
        bundle, _ = await load_active(db)
    router = Router(
        redis=redis, db=db, runtime=runtime, config=bundle.router, sink=RedisSink(redis)
    )
    return Reconciler(router, bundle.reconcile, state["s5_symbols"], bundle.positions, bundle.risk)


reconcile_router = HttpRouter(
    path="/",
    route_handlers=[reconcile],
    guards=[service_token_guard],
    dependencies={"s5": Provide(provide_reconciler)},
    tags=["s5 reconciler"],
)


def reconcile_mount(
    *,
    config: ConfigBundle | None = None,
    venue_settings: VenueSettings | None = None,
    symbols: Sequence[str] | None = None,
) -> Mount:
    """Return S5's route and the lifespan that holds its venues.

    Without ``config`` each run reads the active config bundle; without ``symbols`` the
    topology file's ``symbols:`` are compared (besides those of open ``orders`` rows).
    """
    settings = venue_settings or VenueSettings.from_env()
    chosen = tuple(symbols) if symbols is not None else topology_symbols()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = RouterRuntime(VenuePool(settings))
        try:
            app.state.s5_runtime = runtime
            app.state.s5_config = config
            app.state.s5_symbols = chosen
            yield
        finally:
            await runtime.close()

    return Mount(route_handlers=(reconcile_router,), lifespans=(lifespan,))


__all__ = ["RECONCILE_PATH", "reconcile_mount", "reconcile_router", "topology_symbols"]
