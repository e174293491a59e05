"""An L2 order book of exact (Decimal) price levels, shared by the market feed and the matcher."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from sortedcontainers import SortedDict

Level = tuple[Decimal, Decimal]  # (price, quantity)


class L2Book:
    """Price levels per side; a level with quantity 0 is removed, as Binance's diffs mean."""

    __slots__ = ("_asks", "_bids", "last_update_id", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids: SortedDict = SortedDict()  # ascending; best bid is the last key
        self._asks: SortedDict = SortedDict()  # ascending; best ask is the first key
        self.last_update_id = 0

    def reset(self, bids: Iterable[Level], asks: Iterable[Level], last_update_id: int) -> None:
        """Replace the whole book (a snapshot)."""
        self._bids = SortedDict({p: q for p, q in bids if q > 0})
        self._asks = SortedDict({p: q for p, q in asks if q > 0})
        self.last_update_id = last_update_id

    def apply(self, bids: Iterable[Level], asks: Iterable[Level], update_id: int) -> None:
        """Apply one diff: absolute quantities per level, 0 deletes the level."""
        for side, levels in ((self._bids, bids), (self._asks, asks)):
            for price, qty in levels:
                if qty > 0:
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.last_update_id = update_id

    def set_level(self, is_bid: bool, price: Decimal, qty: Decimal) -> None:
        """Set one level's quantity (0 removes it)."""
        side = self._bids if is_bid else self._asks
        if qty > 0:
            side[price] = qty
        else:
            side.pop(price, None)

    def best_bid(self) -> Level | None:
        return self._bids.peekitem(-1) if self._bids else None

    def best_ask(self) -> Level | None:
        return self._asks.peekitem(0) if self._asks else None

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2

    def bids(self, depth: int | None = None) -> list[Level]:
        """Return bid levels best first (highest price first)."""
        return list(self._iter(self._bids, reverse=True, depth=depth))

    def asks(self, depth: int | None = None) -> list[Level]:
        """Return ask levels best first (lowest price first)."""
        return list(self._iter(self._asks, reverse=False, depth=depth))

    @staticmethod
    def _iter(side: SortedDict, *, reverse: bool, depth: int | None) -> Iterator[Level]:
        keys = reversed(side.keys()) if reverse else iter(side.keys())
        for n, price in enumerate(keys):
            if depth is not None and n >= depth:
                return
            yield price, side[price]

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]
