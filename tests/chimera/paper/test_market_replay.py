"""Replaying the recorded Binance captures: verbatim messages, a consistent REST snapshot."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from chimera.paper.book import L2Book
from tests.chimera.paper.venue_fixtures import running_venue, venue_config

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "binance-ws"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason="../shared/data (recorded captures) is absent"
)
CASES = {
    "perp": ("usdm_btcusdt_20240808.gz", "/fapi", "btcusdt@depth@0ms"),
    "spot": ("spot_btcusdt_20240808.gz", "/spot", "btcusdt@depth@100ms"),
}


def _levels(raw: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in raw]


@pytest.mark.parametrize("kind", ["perp", "spot"])
async def test_replay_is_verbatim_and_rest_depth_is_consistent(kind: str) -> None:
    name, prefix, depth_stream = CASES[kind]
    with gzip.open(DATA / name, "rb") as fh:
        lines = [line.split(b" ", 1)[1] for line in fh.read().splitlines() if b'"stream"' in line]
    position = {body: i for i, body in enumerate(lines)}
    config = venue_config(data_files=(str(DATA / name),), speed=25.0)
    streams = f"{depth_stream}/btcusdt@trade/btcusdt@bookTicker"
    async with running_venue(config) as venue, aiohttp.ClientSession() as http:
        url = "ws" + venue.base_url[4:] + f"{prefix}/stream?streams={streams}"
        async with http.ws_connect(url) as ws:
            api = "/fapi/v1" if kind == "perp" else "/api/v3"
            depth_url = f"{venue.base_url}{api}/depth?symbol=BTCUSDT&limit=1000"
            async with http.get(depth_url) as resp:
                snapshot = await resp.json()
            book = L2Book("BTCUSDT")
            book.reset(
                _levels(snapshot["bids"]), _levels(snapshot["asks"]), snapshot["lastUpdateId"]
            )
            synced = False
            tops: dict[int, tuple[Decimal, Decimal]] = {}
            tickers: dict[int, tuple[Decimal, Decimal]] = {}
            previous = None
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.receive(), 5)
                frame = msg.data.encode()
                index = position[frame]  # KeyError: not a verbatim capture line
                if previous is not None:
                    assert index == previous + 1, "frames skipped or reordered"
                previous = index
                env = json.loads(frame)
                data = env["data"]
                if env["stream"] == depth_stream:
                    if data["u"] <= book.last_update_id:
                        continue
                    if not synced:
                        lid = book.last_update_id
                        assert data["U"] <= lid + 1 <= data["u"] or data.get("pu") == lid
                        synced = True
                    elif kind == "perp":
                        assert data["pu"] == book.last_update_id
                    book.apply(_levels(data["b"]), _levels(data["a"]), data["u"])
                    tops[data["u"]] = (book.best_bid()[0], book.best_ask()[0])  # type: ignore[index]
                elif env["stream"] == "btcusdt@bookTicker":
                    tickers[data["u"]] = (Decimal(data["b"]), Decimal(data["a"]))
    common = set(tops) & set(tickers)
    mismatches = [u for u in common if tops[u] != tickers[u]]
    assert synced and len(common) >= 5
    assert mismatches == []
