"""The services' ASGI app: every service's routes on one Litestar app.

Adding a service's endpoints is one line in ``MOUNTS`` (a callable returning its ``Mount``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from litestar import Litestar

from chimera.http import Mount, build_app
from handlers.s1_connectors.treasury_api import treasury_mount
from handlers.s2_features.api import features_mount
from handlers.s3_strategy.api import strategy_mount
from handlers.s4_router.api import router_mount
from handlers.s5_reconciler.api import reconcile_mount
from handlers.s6_positions.api import positions_mount
from handlers.s12_gateway.api import gateway_mount

MountFactory = Callable[[], Mount]

MOUNTS: tuple[MountFactory, ...] = (
    treasury_mount,  # S1: POST /xchg/treasury/transfer
    features_mount,  # S2: POST /features/recompute
    strategy_mount,  # S3: POST /decide
    router_mount,  # S4: POST /orders, POST /cancel
    reconcile_mount,  # S5: POST /reconcile
    positions_mount,  # S6: POST /positions/manage
    gateway_mount,  # S12: /treasury/transfer (operator requests, approvals)
)


def create_app(
    *,
    service_token: str,
    redis_url: str,
    database_url: str,
    mounts: Sequence[Mount] | None = None,
) -> Litestar:
    """Build the API app from ``mounts`` (default: every factory in ``MOUNTS``)."""
    chosen = list(mounts) if mounts is not None else [factory() for factory in MOUNTS]
    return build_app(
        [handler for mount in chosen for handler in mount.route_handlers],
        service_token=service_token,
        redis_url=redis_url,
        database_url=database_url,
        lifespans=[lifespan for mount in chosen for lifespan in mount.lifespans],
        title="Chimera services API",
    )


__all__ = ["MOUNTS", "create_app"]
