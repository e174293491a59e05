"""Issue B's oracle end to end: the venue replays Binance's captures, S1 consumes them over its
websockets, and every book S1 publishes agrees with Binance's own ``bookTicker``.

A ticker with update id ``Y`` is comparable when S1's book is known to be in exactly that state:
futures ids are global across symbols, so after the diff ending at ``u`` nothing changes on the
symbol until the next diff's ``U`` (``u <= Y < next U``); spot ``depth@100ms`` diffs batch many
updates, so only a ticker whose ``Y`` equals a diff's ``u`` is comparable.
"""

from __future__ import annotations

import asyncio
import bisect
import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera.domain.market import BookEvent, MarketEvent
from chimera.names import MarketKind, mkt_stream
from chimera_workers.connections import RedisClient
from handlers.s1_connectors.config import ConnectorConfig
from handlers.s1_connectors.service import ConnectorService
from tests.chimera.paper.venue_fixtures import paper_settings, running_venue, venue_config
from tests.handlers.s1_connectors.captures import SPOT, USDM, capture_lines, capture_path

ROOT = Path(__file__).resolve().parents[3]
MARKET_EVENT = msgspec.json.Decoder(MarketEvent)
Top = tuple[Decimal, Decimal, Decimal, Decimal]  # bid, bid qty, ask, ask qty

CASES: dict[MarketKind, tuple[str, str]] = {"perp": (USDM, "0ms"), "spot": (SPOT, "100ms")}


class Oracle:
    """Binance's own tickers and the diffs' id ranges, read from the capture."""

    def __init__(self, name: str) -> None:
        self.tickers: dict[int, Top] = {}
        self.diffs: list[tuple[int, int]] = []  # (U, u) in order
        for _, raw in capture_lines(name):
            if not raw.startswith(b'{"stream"'):
                continue
            data = json.loads(raw)["data"]
            if data.get("e") == "depthUpdate":
                self.diffs.append((data["U"], data["u"]))
            elif ("b" in data and "B" in data and "e" not in data) or data.get("e") == "bookTicker":
                self.tickers[data["u"]] = (
                    Decimal(data["b"]),
                    Decimal(data["B"]),
                    Decimal(data["a"]),
                    Decimal(data["A"]),
                )
        self.ends = [u for _, u in self.diffs]

    def state_of(self, ticker_id: int, kind: MarketKind) -> int | None:
        """Return the ``u`` of the diff after which the book shows ticker ``ticker_id``."""
        i = bisect.bisect_right(self.ends, ticker_id) - 1
        if i < 0:
            return None
        u = self.ends[i]
        if kind == "spot":
            return u if u == ticker_id else None
        next_start = self.diffs[i + 1][0] if i + 1 < len(self.diffs) else None
        return u if next_start is not None and ticker_id < next_start else None


@pytest.mark.parametrize("kind", ["perp", "spot"])
@pytest.mark.timeout(200)
async def test_s1_books_from_the_venue_replay_match_binance_book_ticker(
    kind: MarketKind, rclient: RedisClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    name, depth_speed = CASES[kind]
    oracle = Oracle(name)
    config = venue_config(
        data_files=(str(capture_path(name)),), speed=20.0, state_dir=str(tmp_path / "paper")
    )
    async with running_venue(config) as venue:
        service = ConnectorService(
            ConnectorConfig(symbols=("BTCUSDT",), kinds=(kind,), depth_speed=depth_speed),
            paper_settings(venue),
            rclient,
            pool,
            maxlen=lambda stream: 1_000_000,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        await asyncio.sleep(8)  # 8 s of wall time is ~160 s of the capture at speed 20
        stop.set()
        # Shutdown flushes bars and the publisher; allow for a loaded CI machine.
        await asyncio.wait_for(running, 90)
    entries = await rclient.xrange(mkt_stream(kind, "BTCUSDT"))
    books: dict[int, BookEvent] = {}
    for _, fields in entries:
        event = MARKET_EVENT.decode(fields[b"d"]).event
        if isinstance(event, BookEvent):
            books[event.update_id] = event
    assert len(books) > 100, f"S1 published only {len(books)} books"
    compared, mismatches = 0, []
    first, last = min(books), max(books)
    for ticker_id, top in oracle.tickers.items():
        if not first <= ticker_id <= last:
            continue
        state = oracle.state_of(ticker_id, kind)
        if state is None or state not in books:
            continue
        book = books[state]
        compared += 1
        if (book.bid, book.bid_qty, book.ask, book.ask_qty) != top:
            mismatches.append((ticker_id, top, book))
    assert compared > 50, f"only {compared} comparable tickers"
    assert mismatches == [], f"{len(mismatches)} of {compared} differ, first: {mismatches[0]}"
    print(f"{kind}: {compared} bookTicker comparisons, 0 mismatches, {len(books)} books")
