"""A local L2 order book kept in sync from a REST snapshot plus websocket diffs, Binance's way.

Binance's rules ("How to manage a local order book correctly"):

* spot — drop diffs with ``u <= lastUpdateId``; the first applied diff has
  ``U <= lastUpdateId + 1 <= u``; thereafter each diff's ``U`` is the previous ``u + 1``.
* USDⓈ-M futures — drop diffs with ``u < lastUpdateId``; the first applied diff has
  ``U <= lastUpdateId <= u`` (S1 accepts ``pu <= lastUpdateId <= u``, which implies no update
  of the symbol between the snapshot and ``U``); thereafter each diff's ``pu`` is the previous
  ``u`` (update ids are shared across symbols, so ``U`` itself jumps).

A broken chain raises ``SequenceGap`` and leaves the book needing a snapshot: diffs are buffered
(the offending one included) until ``load_snapshot`` replays them on a fresh snapshot. A snapshot
older than the first buffered diff cannot be bridged and raises ``SequenceGap`` again.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import Enum

from chimera.names import MarketKind
from chimera.venues.binance_wire import DepthSnapshot, DepthUpdate, WireLevel
from chimera_workers.errors import ChimeraError

ZERO = Decimal(0)

SnapshotFetcher = Callable[[MarketKind, str], Awaitable[DepthSnapshot]]
"""Fetch the REST depth snapshot of (kind, symbol)."""


class SequenceGap(ChimeraError):
    """A diff does not continue the book (a message was lost): the book must be rebuilt."""

    def __init__(self, kind: MarketKind, symbol: str, detail: str) -> None:
        super().__init__(
            f"{kind} {symbol}: depth sequence gap ({detail})",
            hint="the book resyncs from a new REST snapshot",
        )
        self.kind = kind
        self.symbol = symbol


class SyncState(Enum):
    """Where a book is in Binance's sync procedure."""

    NEEDS_SNAPSHOT = "needs_snapshot"  # buffering diffs until a snapshot arrives
    BRIDGING = "bridging"  # snapshot loaded; waiting for the diff that spans it
    LIVE = "live"


class BookSide:
    """One side's levels: a price -> quantity dict plus its prices in ascending order.

    The sorted list is touched only when a level appears or disappears (a quantity change is a
    dict store), and ``bisect`` keeps it ordered in C: much cheaper than a sorted mapping.
    """

    __slots__ = ("levels", "prices")

    def __init__(self, levels: list[WireLevel] | None = None) -> None:
        self.levels: dict[Decimal, Decimal] = {p: q for p, q in levels or () if q}
        self.prices: list[Decimal] = sorted(self.levels)

    def __len__(self) -> int:
        return len(self.prices)

    def update(self, changes: list[WireLevel]) -> None:
        """Set each level's absolute quantity; zero removes it."""
        levels, prices = self.levels, self.prices
        for price, qty in changes:
            if qty:
                if price not in levels:
                    insort(prices, price)
                levels[price] = qty
            elif levels.pop(price, None) is not None:
                # Removing a level the book does not hold is normal (Binance's rule 8).
                del prices[bisect_left(prices, price)]

    def lowest(self, n: int) -> tuple[WireLevel, ...]:
        """Return the ``n`` lowest-priced levels, lowest first (the best asks)."""
        levels = self.levels
        return tuple((p, levels[p]) for p in self.prices[:n])

    def highest(self, n: int) -> tuple[WireLevel, ...]:
        """Return the ``n`` highest-priced levels, highest first (the best bids)."""
        levels = self.levels
        return tuple((p, levels[p]) for p in self.prices[: -n - 1 : -1])


class OrderBookSync:
    """One symbol's book on one market, and the sequence rules that keep it correct."""

    def __init__(self, kind: MarketKind, symbol: str, *, max_buffer: int = 10_000) -> None:
        self.kind = kind
        self.symbol = symbol
        self.bids = BookSide()
        self.asks = BookSide()
        self.state = SyncState.NEEDS_SNAPSHOT
        self.last_update_id = 0
        self.gaps = 0
        self._buffer: deque[DepthUpdate] = deque(maxlen=max_buffer)
        self._futures = kind == "perp"

    # --- reading ---------------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        return self.state is SyncState.LIVE

    def best_bid(self) -> WireLevel | None:
        """Return (price, qty) of the best bid, or None on an empty side."""
        prices = self.bids.prices
        return (prices[-1], self.bids.levels[prices[-1]]) if prices else None

    def best_ask(self) -> WireLevel | None:
        """Return (price, qty) of the best ask, or None on an empty side."""
        prices = self.asks.prices
        return (prices[0], self.asks.levels[prices[0]]) if prices else None

    def top_bids(self, n: int) -> tuple[WireLevel, ...]:
        """Return the ``n`` best bids, best first."""
        return self.bids.highest(n)

    def top_asks(self, n: int) -> tuple[WireLevel, ...]:
        """Return the ``n`` best asks, best first."""
        return self.asks.lowest(n)

    # --- syncing ---------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget the book (a reconnect lost diffs); buffer diffs until a snapshot."""
        self.state = SyncState.NEEDS_SNAPSHOT
        self._buffer.clear()

    def apply(self, diff: DepthUpdate) -> bool:
        """Apply ``diff``; return True when the book changed, False when buffered or stale.

        Raise ``SequenceGap`` when ``diff`` does not continue the book; the book then needs a
        snapshot and ``diff`` is kept for the replay.
        """
        state = self.state
        if state is SyncState.LIVE:
            if self._futures:
                if diff.prev_final_update_id != self.last_update_id:
                    return self._gap(diff, f"pu={diff.prev_final_update_id}")
            elif diff.first_update_id != self.last_update_id + 1:
                if diff.final_update_id <= self.last_update_id:
                    return False  # a repeat of what the book already holds
                return self._gap(diff, f"U={diff.first_update_id}")
            self._apply_levels(diff)
            return True
        if state is SyncState.NEEDS_SNAPSHOT:
            self._buffer.append(diff)
            return False
        # BRIDGING: drop what the snapshot already contains, then require a spanning diff.
        last = self.last_update_id
        u = diff.final_update_id
        if (u < last) if self._futures else (u <= last):
            return False
        if self._futures:
            # pu <= lastUpdateId: nothing changed on this symbol between the previous diff's
            # end and this diff's start, so the snapshot lies on this diff's chain. This also
            # admits a diff that starts right after the snapshot (the one ending at it was sent
            # before S1 subscribed), which Binance's U <= lastUpdateId would reject.
            start = diff.first_update_id
            if diff.prev_final_update_id is not None:
                start = min(start, diff.prev_final_update_id)
            ok = start <= last <= u
        else:
            ok = diff.first_update_id <= last + 1 <= u
        if not ok:
            return self._gap(diff, f"snapshot {last} does not reach U={diff.first_update_id}")
        self._apply_levels(diff)
        self.state = SyncState.LIVE
        return True

    def load_snapshot(self, snapshot: DepthSnapshot) -> bool:
        """Start the book from ``snapshot`` and replay the buffered diffs; return True if live.

        Raise ``SequenceGap`` if the snapshot is older than the buffered diffs (fetch another).
        """
        self.bids = BookSide(snapshot.bids)
        self.asks = BookSide(snapshot.asks)
        self.last_update_id = snapshot.last_update_id
        self.state = SyncState.BRIDGING
        pending = list(self._buffer)
        self._buffer.clear()
        for i, diff in enumerate(pending):
            try:
                self.apply(diff)
            except SequenceGap:
                # apply() buffered the offending diff; keep the ones after it too.
                self._buffer.extend(pending[i + 1 :])
                raise
        return self.is_live

    def _gap(self, diff: DepthUpdate, detail: str) -> bool:
        expected = self.last_update_id
        self.gaps += 1
        self.state = SyncState.NEEDS_SNAPSHOT
        self._buffer.clear()
        self._buffer.append(diff)
        raise SequenceGap(self.kind, self.symbol, f"book at u={expected}, got {detail}")

    def _apply_levels(self, diff: DepthUpdate) -> None:
        self.bids.update(diff.bids)
        self.asks.update(diff.asks)
        self.last_update_id = diff.final_update_id


async def resync(book: OrderBookSync, fetch: SnapshotFetcher) -> bool:
    """Fetch a snapshot for ``book`` and load it; return True if the book is live afterwards.

    Raise ``SequenceGap`` when the snapshot is too old for the buffered diffs.
    """
    snapshot = await fetch(book.kind, book.symbol)
    return book.load_snapshot(snapshot)
