"""Market websockets on real sockets: ccxt.pro watchers, raw Binance clients, drops, overflow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import pytest

from chimera.paper.control import PaperControl
from chimera.paper.faults import FaultRule
from chimera.paper.venue import PaperVenue
from tests.chimera.paper.venue_fixtures import ccxt_exchange, running_venue, venue_config

SYMBOLS = {"spot": "BTC/USDT", "perp": "BTC/USDT:USDT"}


@pytest.fixture(scope="module")
async def venue() -> AsyncIterator[PaperVenue]:
    async with running_venue() as running:
        yield running


def ws_url(venue: PaperVenue, path: str) -> str:
    return "ws" + venue.base_url[len("http") :] + path


async def _next_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await asyncio.wait_for(ws.receive(), 5.0)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


@pytest.mark.parametrize("kind", ["spot", "perp"])
async def test_ccxt_pro_order_book_matches_the_hub(venue: PaperVenue, kind: str) -> None:
    book = venue.hub.book(kind, "BTCUSDT")  # type: ignore[arg-type]
    matched = 0
    async with ccxt_exchange(venue, kind) as ex:
        for _ in range(40):
            ob = await ex.watch_order_book(SYMBOLS[kind])
            if ob["nonce"] != book.last_update_id:
                continue  # the hub moved on before we looked
            assert [[float(p), float(q)] for p, q in book.bids()] == ob["bids"][: len(book.bids())]
            assert [[float(p), float(q)] for p, q in book.asks()] == ob["asks"][: len(book.asks())]
            assert len(ob["bids"]) == len(book.bids()) and len(ob["asks"]) == len(book.asks())
            matched += 1
            if matched >= 3:
                break
    assert matched >= 3


@pytest.mark.parametrize("kind", ["spot", "perp"])
async def test_ccxt_pro_trades_and_ticker(venue: PaperVenue, kind: str) -> None:
    tape = venue.hub.tape(kind, "BTCUSDT")  # type: ignore[arg-type]
    async with ccxt_exchange(venue, kind) as ex:
        trades = await asyncio.wait_for(ex.watch_trades(SYMBOLS[kind]), 10)
        ids = {t.trade_id for t in tape.recent(5000)}
        assert trades and all(int(t["id"]) in ids for t in trades)
        ticker = await asyncio.wait_for(ex.watch_ticker(SYMBOLS[kind]), 10)
        assert ticker["symbol"] == SYMBOLS[kind] and ticker["last"] > 0
        bids_asks = await asyncio.wait_for(ex.watch_bids_asks([SYMBOLS[kind]]), 10)
        top = bids_asks[SYMBOLS[kind]]
        assert top["bid"] < top["ask"]


async def test_raw_stream_path_and_live_subscribe(venue: PaperVenue) -> None:
    url = ws_url(venue, "/spot/ws/ethusdt@trade")
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        trade = await _next_json(ws)
        assert trade["e"] == "trade" and trade["s"] == "ETHUSDT"
        await ws.send_str(
            json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 7})
        )
        seen_reply = False
        for _ in range(200):
            msg = await _next_json(ws)
            if msg.get("id") == 7:
                assert msg == {"result": None, "id": 7}
                seen_reply = True
            elif "u" in msg and "e" not in msg:  # spot bookTicker has no event type
                assert seen_reply
                break
        else:
            pytest.fail("no bookTicker after SUBSCRIBE")
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["nope@x"], "id": 9}))
        replies = {}
        while len(replies) < 2:
            msg = await _next_json(ws)
            if msg.get("id") in (8, 9):
                replies[msg["id"]] = msg
        assert sorted(replies[8]["result"]) == ["ethusdt@bookTicker", "ethusdt@trade"]
        assert replies[9]["error"]["code"] == 2


async def test_combined_futures_stream_sequencing(venue: PaperVenue) -> None:
    url = ws_url(venue, "/fapi/stream?streams=btcusdt@depth@0ms/btcusdt@markPrice@1s")
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        prev_u = None
        diffs = marks = 0
        while diffs < 15 or marks < 1:
            msg = await _next_json(ws)
            assert set(msg) == {"stream", "data"}
            data = msg["data"]
            if msg["stream"] == "btcusdt@depth@0ms":
                assert data["e"] == "depthUpdate" and data["U"] <= data["u"]
                if prev_u is not None:
                    assert data["pu"] == prev_u
                prev_u = data["u"]
                diffs += 1
            else:
                assert data["e"] == "markPriceUpdate" and data["r"] and data["T"] > data["E"]
                marks += 1


async def test_ws_drop_fault_closes_and_reconnect_works(venue: PaperVenue) -> None:
    url = ws_url(venue, "/spot/ws/btcusdt@trade")
    async with aiohttp.ClientSession() as http, PaperControl(venue.base_url) as control:
        ws = await http.ws_connect(url)
        other = await http.ws_connect(ws_url(venue, "/fapi/ws/btcusdt@trade"))
        await _next_json(ws)
        result = await control.arm_fault(FaultRule(kind="ws_drop", path_prefix="/spot/", count=1))
        assert result["dropped"] == 1
        while True:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        assert ws.closed
        assert (await _next_json(other))["e"] == "trade"  # the futures socket was not matched
        async with http.ws_connect(url) as again:
            assert (await _next_json(again))["e"] == "trade"
        # POST /_paper/ws/drop closes everything still open.
        assert await control.drop_websockets() >= 1
        msg = await asyncio.wait_for(other.receive(), 5)
        while msg.type == aiohttp.WSMsgType.TEXT:
            msg = await asyncio.wait_for(other.receive(), 5)
        await other.close()
        status = await control.status()
        assert status["mode"] == "synthetic" and status["websockets"] == 0


async def test_ccxt_pro_recovers_after_a_drop(venue: PaperVenue) -> None:
    async with ccxt_exchange(venue, "perp") as ex, PaperControl(venue.base_url) as control:
        await asyncio.wait_for(ex.watch_trades(SYMBOLS["perp"]), 10)
        await control.drop_websockets()
        errors = 0
        for _ in range(5):
            try:
                trades = await asyncio.wait_for(ex.watch_trades(SYMBOLS["perp"]), 10)
            except ccxt.NetworkError:
                errors += 1
                continue
            assert trades
            break
        else:
            pytest.fail("ccxt.pro did not recover after the drop")
        assert errors <= 2


async def test_slow_consumer_is_dropped_without_stalling_the_hub() -> None:
    async with running_venue(venue_config(ws_queue_size=2)) as venue:
        streams = "/".join(
            f"{s}@{c}"
            for s in ("btcusdt", "ethusdt", "solusdt")
            for c in ("depth", "trade", "bookTicker", "aggTrade")
        )
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(ws_url(venue, f"/spot/stream?streams={streams}"))
            before = venue.hub.events_applied
            closed = None
            for _ in range(500):
                msg = await asyncio.wait_for(ws.receive(), 5)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    closed = ws.close_code
                    break
            assert closed == aiohttp.WSCloseCode.POLICY_VIOLATION
            await asyncio.sleep(0.3)
            assert venue.hub.events_applied > before
            await ws.close()
