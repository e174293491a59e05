"""The manage tick (schedule ``s6-manage``) and the run behind ``POST /positions/manage``.

One pass reads every open position (``position.open_positions``), the latest perp price of
each symbol, the venue's liquidation prices (one ``positionRisk`` call; unavailable → none),
the health grade and the kill switch, manages each position (``manager``), writes the
snapshots in one round trip and returns the ``pos:events`` entries for the caller to publish.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg
import ccxt.async_support as ccxt

from chimera import names
from chimera.config.bundle import ConfigBundle
from chimera.domain.positions import PositionEvent, PositionSnapshot, SnapshotSource
from chimera.prod_state import read_health, read_kill_switch
from chimera.venues.positions import fetch_futures_positions
from chimera_workers import Context
from chimera_workers.errors import ConfigError
from handlers.s4_router.handlers import RedisSink, router_for
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import now_ms
from handlers.s6_positions.config import s6_config
from handlers.s6_positions.manager import MarketView, PositionManager
from handlers.s6_positions.market import latest_mark
from handlers.s6_positions.position import Position, open_positions
from handlers.s6_positions.snapshots import write_snapshots

log = logging.getLogger(__name__)


async def _liquidations(router: Router) -> dict[str, Decimal]:
    try:
        exchange = await router.runtime.venues.exchange("FUT")
        positions = await fetch_futures_positions(exchange)
    except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
        # Distance to liquidation is informative; a venue hiccup must not stop stop-raising.
        log.warning("positionRisk unavailable this tick: %s", exc)
        return {}
    return {p.symbol: p.liquidation_price for p in positions if p.liquidation_price is not None}


async def market_view(router: Router, positions: list[Position]) -> MarketView:
    """Return what one pass needs to know about the market and the system."""
    marks: dict[str, Decimal] = {}
    for symbol in sorted({p.symbol for p in positions}):
        mark = await latest_mark(router.redis, symbol)
        if mark is not None:
            marks[symbol] = mark
    return MarketView(
        marks=marks,
        liquidations=await _liquidations(router) if positions else {},
        health=await read_health(router.redis),
        kill_switch=(await read_kill_switch(router.redis)).on,
        now_ms=now_ms(),
    )


async def manage_positions(
    router: Router,
    db: asyncpg.Pool,
    config: ConfigBundle,
    rev: int,
    source: SnapshotSource,
    pos_id: str | None = None,
) -> tuple[list[PositionSnapshot], list[PositionEvent]]:
    """Manage every open position (or only ``pos_id``); return its snapshots and events."""
    positions = [p for p in await open_positions(db) if pos_id is None or p.pos_id == pos_id]
    view = await market_view(router, positions)
    manager = PositionManager(router=router, db=db, config=config, rev=rev, source=source)
    snapshots = []
    for position in positions:
        snapshot = await manager.run(position, view)
        if snapshot is not None:
            snapshots.append(snapshot)
    await write_snapshots(db, snapshots)
    return snapshots, manager.events


async def manage_tick(ctx: Context) -> None:
    """Manage every open position once (the ``s6-manage`` schedule)."""
    if ctx.db is None:
        raise ConfigError("S6 needs PostgreSQL", hint="run the worker with a database URL")
    config, rev = s6_config(ctx)
    router = router_for(ctx, RedisSink(ctx.redis))
    _, events = await manage_positions(router, ctx.db, config, rev, "TICK")
    for event in events:
        ctx.emit(names.POS_EVENTS, event)


__all__ = ["manage_positions", "manage_tick", "market_view"]
