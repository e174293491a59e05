"""Shared pieces of the S4 tests: one paper venue per module, a router on it, row readers.

The venue outlives tests within a module (its positions and orders too), so every test makes its
intent ids unique (``new_id``): a client order id the venue saw before would be found by lookup.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import ccxt
import msgspec
import pytest

from chimera import names
from chimera.config.router import RouterConfig
from chimera.domain.orders import OrderIntent, OrderResult
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s4_router.handlers import RedisSink
from handlers.s4_router.router import Router
from handlers.s4_router.runtime import RouterRuntime, VenuePool
from tests.chimera.paper.venue_fixtures import (
    ccxt_exchange,
    paper_settings,
    running_venue,
    venue_config,
)

TOKEN = "s4-router-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAST = RouterConfig(
    maker_wait_ms=300,
    maker_poll_ms=50,
    twap_retry_ms=100,
    unknown_resend_after_ms=600,
    intent_lock_wait_ms=300,
)
_RESULT = msgspec.json.Decoder(OrderResult)


def new_id(label: str) -> str:
    """Return an intent id no other test (or earlier run against this venue) used."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


def intent(label: str, **fields: Any) -> OrderIntent:
    """Return a FUT BTCUSDT market-buy intent with a fresh id, changed by ``fields``."""
    values: dict[str, Any] = {
        "intent_id": new_id(label),
        "market": "FUT",
        "symbol": "BTCUSDT",
        "side": "buy",
        "qty": Decimal("0.002"),
    }
    values.update(fields)
    return OrderIntent(**values)


@pytest.fixture(scope="module")
async def venue(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PaperVenue]:
    state = tmp_path_factory.mktemp("s4-venue")
    async with running_venue(venue_config(state_dir=str(state)), make_plugin) as running:
        yield running


@pytest.fixture
async def runtime(venue: PaperVenue) -> AsyncIterator[RouterRuntime]:
    settings = msgspec.structs.replace(paper_settings(venue), timeout_ms=500)
    runtime = RouterRuntime(VenuePool(settings))
    yield runtime
    await runtime.close()


def make_router(
    rclient: RedisClient, pool: asyncpg.Pool, runtime: RouterRuntime, config: RouterConfig = FAST
) -> Router:
    """Return a router publishing straight to ``ord:{results}``."""
    return Router(redis=rclient, db=pool, runtime=runtime, config=config, sink=RedisSink(rclient))


async def results(redis: RedisClient) -> list[OrderResult]:
    """Return every entry of ``ord:{results}`` in order."""
    entries = await redis.xrange(names.ORD_RESULTS)
    return [_RESULT.decode(fields[PAYLOAD_FIELD]) for _, fields in entries]


async def order_rows(pool: asyncpg.Pool, intent_id: str) -> list[asyncpg.Record]:
    """Return the intent's ``orders`` rows, oldest first."""
    return list(
        await pool.fetch(
            "SELECT * FROM orders WHERE intent_id = $1 ORDER BY created_ts_ms, client_order_id",
            intent_id,
        )
    )


async def fill_rows(pool: asyncpg.Pool, intent_id: str) -> list[asyncpg.Record]:
    """Return the intent's ``fills`` rows."""
    return list(await pool.fetch("SELECT * FROM fills WHERE intent_id = $1", intent_id))


async def venue_orders(exchange: Any, symbol: str, client_order_id: str) -> list[dict[str, Any]]:
    """Return every venue order (open or closed) with this client order id."""
    orders = await exchange.fetch_orders(symbol, None, 500)
    return [o for o in orders if o["clientOrderId"] == client_order_id]


async def flat(exchange: Any, symbol: str = "BTC/USDT:USDT") -> None:
    """Close any futures position on ``symbol`` and cancel its orders (tests share the venue)."""
    await exchange.cancel_all_orders(symbol)
    await exchange.cancel_all_orders(symbol, {"trigger": True})
    for position in await exchange.fetch_positions([symbol]):
        if position["contracts"]:
            side = "sell" if position["side"] == "long" else "buy"
            await exchange.create_order(
                symbol, "market", side, position["contracts"], None, {"reduceOnly": True}
            )


@pytest.fixture
async def perp(venue: PaperVenue) -> AsyncIterator[Any]:
    """ccxt's futures exchange on the module's venue; the account flat around a test."""
    async with ccxt_exchange(venue, "perp") as exchange:
        await exchange.load_markets()
        await flat(exchange)
        yield exchange
        await flat(exchange)


# --- SPOT brackets (OCO / GUARD) ---------------------------------------------------------------
SPOT = "BTC/USDT"


@pytest.fixture
async def spot(venue: PaperVenue) -> AsyncIterator[Any]:
    """ccxt's spot exchange on the module's venue; BTCUSDT's open orders cancelled around a test."""
    async with ccxt_exchange(venue, "spot") as exchange:
        await exchange.load_markets()
        await _cancel_spot(exchange)
        yield exchange
        await _cancel_spot(exchange)


async def _cancel_spot(exchange: Any) -> None:
    with contextlib.suppress(ccxt.OrderNotFound):  # the venue answers -2011 when none is open
        await exchange.cancel_all_orders(SPOT)


async def bracket(exchange: Any, tp_pct: str = "5", sl_pct: str = "5") -> tuple[Decimal, Decimal]:
    """Return (take-profit, stop) prices ``tp_pct`` % above the ask, ``sl_pct`` % below the bid."""
    book = await exchange.publicGetDepth({"symbol": "BTCUSDT", "limit": 5})
    ask, bid = Decimal(book["asks"][0][0]), Decimal(book["bids"][0][0])
    tp = ask * (1 + Decimal(tp_pct) / 100)
    sl = bid * (1 - Decimal(sl_pct) / 100)
    return (
        Decimal(exchange.price_to_precision(SPOT, str(tp))),
        Decimal(exchange.price_to_precision(SPOT, str(sl))),
    )


def spot_intent(
    label: str, exec_: str, tp: Decimal | None, sl: Decimal | None, **fields: Any
) -> OrderIntent:
    """Return a SPOT BTCUSDT bracketed buy of 0.002 with a fresh id."""
    values: dict[str, Any] = {
        "intent_id": new_id(label),
        "market": "SPOT",
        "symbol": "BTCUSDT",
        "side": "buy",
        "qty": Decimal("0.002"),
        "exec": exec_,
        "tp_price": tp,
        "sl_price": sl,
    }
    values.update(fields)
    return OrderIntent(**values)


async def stream_statuses(redis: RedisClient, intent_id: str) -> list[tuple[str, str]]:
    """Return the intent's ``ord:{results}`` entries as (leg, status), in stream order."""
    return [
        (r.client_order_id.rsplit(".", 1)[-1], r.status)
        for r in await results(redis)
        if r.intent_id == intent_id
    ]
