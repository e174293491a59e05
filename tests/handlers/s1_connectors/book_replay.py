"""Drive ``OrderBookSync`` with a recorded capture and check it against Binance's ``bookTicker``.

What "the same update id" means: ``bookTicker`` carries the book's update id ``u``. After each
applied diff (ids ``U``..``u``) the local book is the venue's book as of ``u``, and it stays so
until the next diff of this symbol starts (its ``U``). A ticker with id ``Y`` is therefore
comparable when some applied diff has ``u <= Y`` and the next diff has ``U > Y``:

* spot ``depth@100ms`` aggregates 100 ms of updates with contiguous ids, so this is exactly
  ``Y == u`` of a diff (a ticker falling inside a diff's ``U..u`` range is not comparable);
* futures ids are shared across symbols (``U`` jumps; ``pu`` links), so ``u <= Y < next U`` is
  also the same book state: nothing changed on this symbol between those ids.

Compared: best bid price and quantity, best ask price and quantity.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from decimal import Decimal

import msgspec

from chimera.names import MarketKind
from chimera.venues import binance_wire as wire
from handlers.s1_connectors.order_book import OrderBookSync, SequenceGap
from tests.handlers.s1_connectors.captures import capture_lines

Top = tuple[Decimal, Decimal, Decimal, Decimal]


class ReplayResult(msgspec.Struct):
    """The book's top after each applied diff, and the venue's tickers."""

    first_ids: list[int]  # U of each applied diff, in order
    final_ids: list[int]  # u of each applied diff
    tops: list[Top]
    tickers: list[wire.BookTicker]
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    resumed: bool = False
    final: wire.DepthSnapshot | None = None

    def record(self, book: OrderBookSync, first_id: int) -> None:
        """Record the book's top as of its ``last_update_id``, reached from ``first_id``.

        After a gap the ids between the last recorded state and this one were never seen, so
        the state claims them all (``first_id`` = previous ``u`` + 1): no ticker in that hole
        is compared with the stale pre-gap state.
        """
        if self.resumed and self.final_ids:
            first_id = min(first_id, self.final_ids[-1] + 1)
        self.resumed = False
        self.first_ids.append(first_id)
        self.final_ids.append(book.last_update_id)
        top = top_of(book)
        self.crossed += top[0] >= top[2]
        self.tops.append(top)

    def compare(self) -> tuple[int, list[str]]:
        """Return (comparisons made, mismatches described)."""
        compared = 0
        mismatches: list[str] = []
        for t in self.tickers:
            i = bisect.bisect_right(self.final_ids, t.update_id) - 1
            if i < 0 or i + 1 >= len(self.final_ids) or self.first_ids[i + 1] <= t.update_id:
                continue
            compared += 1
            mine = self.tops[i]
            theirs = (t.bid, t.bid_qty, t.ask, t.ask_qty)
            if mine != theirs:
                mismatches.append(f"u={t.update_id}: book {mine} != bookTicker {theirs}")
        return compared, mismatches


def messages(name: str) -> list[tuple[str, object]]:
    """Decode a capture into ("snapshot"|"depth"|"ticker", message) pairs, in arrival order."""
    out: list[tuple[str, object]] = []
    for _, raw in capture_lines(name):
        if raw.startswith(b'{"lastUpdateId"'):
            out.append(("snapshot", wire.DEPTH_SNAPSHOT.decode(raw)))
            continue
        env = wire.ENVELOPE.decode(raw)
        _, channel = wire.stream_channel(env.stream)
        if channel == "depth":
            out.append(("depth", wire.DEPTH_UPDATE.decode(env.data)))
        elif channel == "bookTicker":
            out.append(("ticker", wire.BOOK_TICKER.decode(env.data)))
    return out


def top_of(book: OrderBookSync) -> Top:
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    return (bid[0], bid[1], ask[0], ask[1])


def snapshot_of(book: OrderBookSync) -> wire.DepthSnapshot:
    """Build the REST snapshot a venue would have served for ``book``'s current state."""
    return wire.DepthSnapshot(
        last_update_id=book.last_update_id,
        bids=list(book.bids.highest(len(book.bids))),
        asks=list(book.asks.lowest(len(book.asks))),
    )


async def replay(
    msgs: list[tuple[str, object]],
    kind: MarketKind,
    *,
    drop_diff: int | None = None,
    resync_after: int = 3,
    fetch: Callable[[OrderBookSync], Awaitable[wire.DepthSnapshot]] | None = None,
) -> ReplayResult:
    """Feed ``msgs`` through a fresh book; drop the ``drop_diff``-th live diff if asked.

    After a gap, ``resync_after`` more diffs are buffered before ``fetch`` supplies a snapshot.
    """
    book = OrderBookSync(kind, "BTCUSDT")
    result = ReplayResult([], [], [], [])
    live_diffs = 0
    countdown: int | None = None
    for what, msg in msgs:
        if what == "snapshot":
            assert isinstance(msg, wire.DepthSnapshot)
            if book.load_snapshot(msg):
                result.record(book, book.last_update_id)
        elif what == "ticker":
            assert isinstance(msg, wire.BookTicker)
            result.tickers.append(msg)
        else:
            assert isinstance(msg, wire.DepthUpdate)
            if book.is_live:
                live_diffs += 1
                if live_diffs == drop_diff:
                    continue
            try:
                applied = book.apply(msg)
            except SequenceGap:
                result.gaps += 1
                result.resumed = True
                countdown = resync_after
                continue
            if applied:
                result.record(book, msg.first_update_id)
            if countdown is not None:
                countdown -= 1
                if countdown <= 0:
                    assert fetch is not None, "a gap happened but no snapshot fetcher was given"
                    countdown = None
                    result.resyncs += 1
                    if book.load_snapshot(await fetch(book)):
                        result.record(book, book.last_update_id)
    result.final = snapshot_of(book)
    return result


def reference_snapshot(
    msgs: list[tuple[str, object]], kind: MarketKind, live_diff: int
) -> wire.DepthSnapshot:
    """Return the venue's book right after the ``live_diff``-th live diff (no diff dropped)."""
    book = OrderBookSync(kind, "BTCUSDT")
    live_diffs = 0
    for what, msg in msgs:
        if what == "snapshot":
            assert isinstance(msg, wire.DepthSnapshot)
            book.load_snapshot(msg)
        elif what == "depth":
            assert isinstance(msg, wire.DepthUpdate)
            was_live = book.is_live
            book.apply(msg)
            live_diffs += was_live
            if was_live and live_diffs == live_diff:
                return snapshot_of(book)
    raise AssertionError(f"the capture has fewer than {live_diff} live diffs")
