"""S1's order book against Binance's own ``bookTicker`` on the recorded BTCUSDT captures."""

from __future__ import annotations

from functools import cache

import pytest

from chimera.names import MarketKind
from chimera.venues import binance_wire as wire
from handlers.s1_connectors.order_book import OrderBookSync
from tests.handlers.s1_connectors.book_replay import messages, reference_snapshot, replay
from tests.handlers.s1_connectors.captures import SPOT, USDM

CASES = [pytest.param("perp", USDM, id="usdm"), pytest.param("spot", SPOT, id="spot")]


@cache
def _messages(name: str) -> list[tuple[str, object]]:
    return messages(name)


@pytest.mark.parametrize(("kind", "name"), CASES)
async def test_book_matches_book_ticker(kind: MarketKind, name: str) -> None:
    result = await replay(_messages(name), kind)
    compared, mismatches = result.compare()
    print(f"{name}: {compared} comparisons with bookTicker, {len(mismatches)} mismatches")
    assert result.gaps == 0
    assert mismatches == []
    assert compared > 500  # 629 (usdm) and 564 (spot) on these captures
    assert result.crossed == 0


@pytest.mark.parametrize(("kind", "name"), CASES)
async def test_dropped_diff_is_detected_and_the_book_resyncs(kind: MarketKind, name: str) -> None:
    msgs = _messages(name)
    dropped = 1000
    # The venue's snapshot at resync time: the book two diffs after the dropped one, so the
    # diffs buffered meanwhile are partly stale (dropped) and partly replayed on top of it.
    later = reference_snapshot(msgs, kind, dropped + 2)
    fetched: list[int] = []

    async def fetch(book: OrderBookSync) -> wire.DepthSnapshot:
        fetched.append(book.last_update_id)
        return later

    result = await replay(msgs, kind, drop_diff=dropped, resync_after=3, fetch=fetch)
    reference = await replay(msgs, kind)
    compared, mismatches = result.compare()
    print(f"{name} with a dropped diff: {compared} comparisons, {len(mismatches)} mismatches")
    assert result.gaps == 1
    assert result.resyncs == 1 and len(fetched) == 1
    assert mismatches == []
    assert compared > 500
    # After the resync the whole book (every level) is the venue's book again.
    assert result.final == reference.final
