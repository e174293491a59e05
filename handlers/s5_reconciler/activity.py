"""Whether a symbol's FUT orders are moving: a mismatch seen then may be a fill in flight.

S4 claims an ``orders`` row (PENDING) before it sends, and updates it when the venue answers; so
a fill the venue shows but the DB does not yet is always behind a row PENDING / UNKNOWN, a
regular order still open, or a row updated since (shortly before) the venue was read. A stop the
venue triggered but S4 has not recorded yet is a DB row open as a conditional the venue no
longer lists.
"""

from __future__ import annotations

import asyncpg
import ccxt.async_support as ccxt

from chimera.venues import orders as venue_orders
from chimera.venues.ccxt_factory import Exchange
from handlers.s4_router.runtime import ccxt_symbol

_ACTIVITY = (
    "SELECT count(*) FILTER (WHERE status IN ('PENDING', 'UNKNOWN') OR (status IN "
    "('NEW', 'PARTIALLY_FILLED') AND order_type NOT IN ('STOP_MARKET', 'TAKE_PROFIT_MARKET'))) "
    "AS in_flight, max(updated_ts_ms) AS last FROM orders WHERE market = 'FUT' AND symbol = $1"
)
_OPEN_CONDITIONALS = (
    "SELECT client_order_id FROM orders WHERE market = 'FUT' AND symbol = $1 AND status IN "
    "('NEW', 'PARTIALLY_FILLED') AND order_type IN ('STOP_MARKET', 'TAKE_PROFIT_MARKET')"
)


async def in_flight(
    pool: asyncpg.Pool, exchange: Exchange, symbol: str, since_ms: int, check_stops: bool
) -> str | None:
    """Return why ``symbol``'s orders may be moving (None: quiet since ``since_ms``).

    With ``check_stops``, also the DB's open conditional orders the venue no longer lists.
    """
    row = await pool.fetchrow(_ACTIVITY, symbol)
    assert row is not None
    if row["in_flight"]:
        return f"{row['in_flight']} order(s) in flight"
    if row["last"] is not None and int(row["last"]) >= since_ms:
        return "orders changed while the venue was read"
    if not check_stops:
        return None
    ours = {r["client_order_id"] for r in await pool.fetch(_OPEN_CONDITIONALS, symbol)}
    if not ours:
        return None
    try:
        listed = await venue_orders.open_orders(exchange, ccxt_symbol(exchange, "FUT", symbol))
    except (ccxt.BaseError, ValueError) as exc:
        return f"open orders unreadable: {exc}"
    gone = ours - {o.client_order_id for o in listed}
    return f"stops the venue no longer lists: {sorted(gone)}" if gone else None


__all__ = ["in_flight"]
