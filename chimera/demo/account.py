"""The paper account as the dashboard shows it: open positions from the venue, PnL from fills.

Every ~2 s a background task reads, each within a time budget and independently:
- USDⓈ-M positions (``fetch_positions`` on ``binanceusdm``) — side, qty, entry, mark, unrealized;
- spot holdings (``fetch_balance`` and last prices on ``binance``): a symbol's spot position is
  its base asset's balance beyond the paper account's starting holding, valued at the average
  cost of our spot fills;
- every row of ``fills`` (realized PnL and fees, ``chimera.demo.pnl``).
The dashboard renders the latest ``AccountSnapshot`` without waiting; a read that fails or
times out shows as "n/a". The venue and database persist under ``.chimera/``, so the account —
positions and PnL — spans every demo run since the state was created.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import TypeVar

import asyncpg
import ccxt
import msgspec

from chimera.demo.pnl import Book, PnlTotals, ledger, load_fills, totals
from chimera.domain.orders import Market
from chimera.paper.markets import DEFAULT_MARKETS
from chimera.paper.trading.config import TradingConfig
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.positions import (
    VenuePosition,
    fetch_futures_positions,
    fetch_spot_balances,
    fetch_spot_prices,
    spot_position,
)
from chimera.venues.settings import VenueSettings
from chimera_workers.errors import raise_if_cancelling

# What a read may raise and still be "n/a" rather than the end of the demo: the venue or the
# database unreachable, slow or answering something unexpected.
_READ_ERRORS = (
    ccxt.BaseError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
    KeyError,
    ValueError,
    ArithmeticError,
)

T = TypeVar("T")
Books = dict[tuple[Market, str], Book]


class AccountSnapshot(msgspec.Struct, frozen=True):
    """One read of the account; ``None`` fields failed to read (shown as "n/a")."""

    positions: tuple[VenuePosition, ...] | None = None
    pnl: PnlTotals = PnlTotals(None, None, None, None)
    read_at: float = 0.0  # time.monotonic() of the read; 0: not read yet


def _base_assets() -> dict[str, str]:
    return {m.symbol: m.base for m in DEFAULT_MARKETS if m.kind == "spot"}


def value_spot(pos: VenuePosition, books: Books | None) -> VenuePosition:
    """Give a spot position the average-cost entry of our spot fills and its unrealized PnL,
    when the fills explain it (same side and quantity)."""
    book = None if books is None else books.get(("SPOT", pos.symbol))
    signed = pos.qty if pos.side == "long" else -pos.qty
    if book is None or book.qty != signed or pos.mark_price is None:
        return pos
    unrealized = (pos.mark_price - book.entry_price) * signed
    return msgspec.structs.replace(pos, entry_price=book.entry_price, unrealized_pnl=unrealized)


class AccountWatch:
    """Keep ``snapshot`` fresh from the paper venue and the database, in the background."""

    def __init__(
        self,
        settings: VenueSettings,
        db: asyncpg.Pool,
        symbols: list[str],
        *,
        interval_s: float = 2.0,
        timeout_s: float = 3.0,
    ) -> None:
        self.snapshot = AccountSnapshot()
        self._db = db
        self._symbols = symbols
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._spot = make_exchange("spot", settings)
        self._perp = make_exchange("perp", settings)
        bases = _base_assets()
        self._bases = {s: bases[s] for s in symbols if s in bases}
        # The paper account's starting spot holdings: a spot position is what differs from them.
        self._baseline = TradingConfig().spot_balances
        self._task: asyncio.Task[None] | None = None
        self._due = 0.0

    def tick(self) -> None:
        """Start a background refresh when one is due and none is running; never wait."""
        now = time.monotonic()
        if now < self._due or (self._task is not None and not self._task.done()):
            return
        self._due = now + self._interval_s
        self._task = asyncio.create_task(self._refresh_in_background())

    async def _refresh_in_background(self) -> None:
        self.snapshot = await self.read()

    async def _bounded(self, read: Awaitable[T]) -> T | None:
        try:
            return await asyncio.wait_for(read, self._timeout_s)
        except _READ_ERRORS:
            raise_if_cancelling()
            return None

    async def read(self) -> AccountSnapshot:
        """Read positions, spot holdings and fills concurrently, each within the time budget."""
        futures, balances, prices, fills = await asyncio.gather(
            self._bounded(fetch_futures_positions(self._perp)),
            self._bounded(fetch_spot_balances(self._spot)),
            self._bounded(fetch_spot_prices(self._spot)),
            self._bounded(load_fills(self._db, self._timeout_s)),
        )
        books = None if fills is None else ledger(fills)
        positions: list[VenuePosition] | None = None
        if futures is not None and balances is not None and prices is not None:
            positions = [p for p in futures if p.symbol in self._symbols]
            for symbol, base in self._bases.items():
                held = balances.get(base, Decimal(0))
                pos = spot_position(symbol, held, self._baseline.get(base, Decimal(0)),
                                    prices.get(symbol))  # fmt: skip
                if pos is not None:
                    positions.append(value_spot(pos, books))
        return AccountSnapshot(
            positions=None if positions is None else tuple(positions),
            pnl=totals(books, positions),
            read_at=time.monotonic(),
        )

    async def close(self) -> None:
        """Stop a running refresh and release the ccxt clients."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for exchange in (self._spot, self._perp):
            await exchange.close()
