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
from chimera.config.manage import ManageConfig
from chimera.domain.positions import PositionEvent, PositionSnapshot, SnapshotSource
from chimera.prod_state import read_health, read_kill_switch
from chimera.venues.positions import fetch_futures_positions
from chimera_workers import Context
from chimera_workers.connections import RedisClient
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


async def tracked_positions(
    redis: RedisClient, db: asyncpg.Pool, manage: ManageConfig
) -> list[Position]:
    """Return the open positions: those in ``pos:{open}``, or every one when a sweep is due.

    A sweep sums the whole ``orders`` history and re-tracks what it finds; other passes look
    up only the tracked ids, so a pass costs the same with a year of closed positions behind it.
    Ids that are no longer open leave the set.
    """
    now = now_ms()
    sweep = now - int(await redis.get(names.POS_OPEN_SWEPT) or 0) >= manage.sweep_interval_ms
    members: set[bytes] = await redis.smembers(names.POS_OPEN)  # type: ignore[assignment]
    tracked = {m.decode() for m in members}
    if sweep:
        positions = await open_positions(db)
        if positions:
            await redis.sadd(names.POS_OPEN, *(p.pos_id for p in positions))
        await redis.set(names.POS_OPEN_SWEPT, now)
    else:
        positions = await open_positions(db, sorted(tracked)) if tracked else []
    gone = tracked - {p.pos_id for p in positions}
    if gone:
        await redis.srem(names.POS_OPEN, *gone)
    return positions


async def manage_positions(
    router: Router,
    db: asyncpg.Pool,
    config: ConfigBundle,
    rev: int,
    source: SnapshotSource,
    pos_id: str | None = None,
) -> tuple[list[PositionSnapshot], list[PositionEvent]]:
    """Manage every open position (or only ``pos_id``); return its snapshots and events."""
    if pos_id is not None:
        positions = await open_positions(db, [pos_id])
    else:
        positions = await tracked_positions(router.redis, db, config.positions.manage)
    view = await market_view(router, positions)
    manager = PositionManager(router=router, db=db, config=config, rev=rev, source=source)
    snapshots = await manager.run_all(positions, view)
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
