"""S3 entries sized with the paper venue's filters (B1), SPOT entries with OCO/GUARD (B2), and
skips that hold no risk (B7). The venue is the paper venue with its trading side; an entry is
"one S4 would accept" when the venue fills a market order of exactly its quantity."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import yaml

from chimera import names
from chimera.config import store
from chimera.http.server import serve
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera.protection import protective_prices
from chimera.risk import RiskLedger
from chimera.venues.ccxt_factory import make_exchange
from chimera.venues.instruments import InstrumentCatalog
from chimera.venues.orders import place_market
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.api.app import create_app
from handlers.s3_strategy.api import DECIDE_PATH, strategy_mount
from handlers.s3_strategy.engine import DecisionEngine
from handlers.s3_strategy.runtime import RESOURCE_NAME
from tests.chimera.paper.venue_fixtures import paper_settings, running_venue, venue_config
from tests.handlers.s3_strategy.support import T0, bundle, snapshot, write_topology
from tests.handlers.s3_strategy.test_worker import INTENTS, entries
from tests.harness.polling import until

CCXT = {"FUT": ("perp", "BTC/USDT:USDT"), "SPOT": ("spot", "BTC/USDT")}
SHORT = {"intercept": -2.0}  # p = 0.12: a sell


@pytest.fixture(scope="module")
async def venue(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PaperVenue]:
    state = tmp_path_factory.mktemp("s3-venue")
    async with running_venue(venue_config(state_dir=str(state)), make_plugin) as running:
        yield running


@pytest.fixture
def catalog(venue: PaperVenue) -> InstrumentCatalog:
    return InstrumentCatalog(paper_settings(venue))


@pytest.fixture
def engine(rclient: RedisClient, pool: asyncpg.Pool, catalog: InstrumentCatalog) -> DecisionEngine:
    return DecisionEngine(rclient, pool, catalog=catalog)


async def venue_price(venue: PaperVenue, market: str = "FUT") -> str:
    """The venue's last BTCUSDT price, as S1/S2 would have published it."""
    kind, symbol = CCXT[market]
    exchange = make_exchange(kind, paper_settings(venue))  # type: ignore[arg-type]
    try:
        ticker = await exchange.fetch_ticker(symbol)
    finally:
        await exchange.close()
    return str(Decimal(str(ticker["last"])).quantize(Decimal("0.1")))


async def risk_keys(rclient: RedisClient) -> list[bytes]:
    return sorted(await rclient.keys("risk:*"))


async def test_a_small_entry_is_raised_to_the_venue_minimum_and_the_venue_fills_it(
    engine: DecisionEngine, venue: PaperVenue, rclient: RedisClient
) -> None:
    price = await venue_price(venue)
    # 50 USDT x 1.5 is ~0.00125 BTC: under the FUT minimum (0.001 step, 100 USDT notional).
    outcome = await engine.decide(snapshot(price=price), bundle(sizing={"notional_usdt": "50"}), 3)
    d, intent = outcome.decision, outcome.intent
    assert (d.action, d.reason) == ("open", "ENTRY")
    assert intent is not None and intent.market == "FUT" and intent.qty == d.qty
    assert d.qty is not None and d.qty % Decimal("0.001") == 0
    assert Decimal("100") * Decimal("1.005") <= d.qty * Decimal(price) <= Decimal("150")
    # B7: the margin is that of the final quantity, not of the 75 USDT asked for.
    assert d.margin_usdt == d.qty * Decimal(price) / 5
    assert (await RiskLedger(rclient).usage("BTCUSDT"))[1] == 1
    exchange = make_exchange("perp", paper_settings(venue))
    try:
        await exchange.load_markets()
        assert exchange.amount_to_precision("BTC/USDT:USDT", str(d.qty)) == str(d.qty)
        order = await place_market(
            exchange, "BTC/USDT:USDT", "buy", d.qty, f"s3t-{uuid.uuid4().hex[:12]}"
        )
    finally:
        await exchange.close()
    assert order.status == "FILLED" and order.filled_qty == d.qty


async def test_an_entry_under_the_venue_minimum_that_cannot_be_raised_is_skipped(
    engine: DecisionEngine, venue: PaperVenue, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    price = await venue_price(venue)
    config = bundle(sizing={"notional_usdt": "20"})  # 3 x 20 = 60 USDT < 100 USDT minimum
    event = snapshot(price=price)
    outcome = await engine.decide(event, config, 1)
    assert (outcome.decision.action, outcome.decision.reason) == ("skip", "BELOW_MIN_NOTIONAL")
    assert outcome.intent is None and outcome.decision.margin_usdt is None
    stored = await pool.fetchval(
        "SELECT decision->>'reason' FROM signals WHERE signal_id = $1", event.signal_id
    )
    assert stored == "BELOW_MIN_NOTIONAL"
    assert await risk_keys(rclient) == []  # nothing reserved, nothing to release


async def test_without_bump_to_min_the_entry_is_skipped(
    engine: DecisionEngine, venue: PaperVenue, rclient: RedisClient
) -> None:
    config = bundle(sizing={"notional_usdt": "50", "bump_to_min": False})
    outcome = await engine.decide(snapshot(price=await venue_price(venue)), config, 1)
    assert outcome.decision.reason == "BELOW_MIN_NOTIONAL"
    assert await risk_keys(rclient) == []


@pytest.mark.parametrize("spot_exec", ["OCO", "GUARD"])
async def test_a_spot_config_emits_a_spot_entry_with_its_take_profit_and_stop(
    engine: DecisionEngine, venue: PaperVenue, rclient: RedisClient, spot_exec: str
) -> None:
    price = await venue_price(venue, "SPOT")
    config = bundle(entry_market="SPOT", spot_exec=spot_exec)
    event = snapshot(price=price, atr=150.0)
    outcome = await engine.decide(event, config, 4)
    d, intent = outcome.decision, outcome.intent
    assert (d.action, d.side) == ("open", "buy") and intent is not None
    assert (intent.market, intent.exec, intent.side, intent.purpose) == (
        "SPOT", spot_exec, "buy", "ENTRY"
    )  # fmt: skip
    assert intent.qty == d.qty and d.qty is not None and d.qty % Decimal("0.00001") == 0
    assert intent.tp_price is not None and intent.sl_price is not None
    assert intent.tp_price > Decimal(price) > intent.sl_price
    sl, tp = protective_prices("buy", Decimal(price), Decimal("150"), config.positions)
    assert (intent.sl_price, intent.tp_price) == (sl, tp)
    # A spot buy holds no futures margin but does take the symbol's concurrency slot.
    assert d.margin_usdt == 0
    assert await RiskLedger(rclient).usage("BTCUSDT") == (Decimal(0), 1)
    assert await rclient.get(names.risk_concurrency_mirror_key("BTCUSDT")) == b"1"
    exchange = make_exchange("spot", paper_settings(venue))
    try:
        await exchange.load_markets()
        assert exchange.amount_to_precision("BTC/USDT", str(d.qty)) == str(d.qty)
    finally:
        await exchange.close()


async def test_a_spot_short_is_skipped_and_holds_nothing(
    engine: DecisionEngine, pool: asyncpg.Pool, rclient: RedisClient
) -> None:
    event = snapshot()
    outcome = await engine.decide(event, bundle(entry_market="SPOT", model=SHORT), 1)
    d = outcome.decision
    assert (d.action, d.reason, d.side) == ("skip", "SPOT_NO_SHORT", "sell")
    assert outcome.intent is None
    assert await pool.fetchval(
        "SELECT decision->>'reason' FROM signals WHERE signal_id = $1", event.signal_id
    ) == "SPOT_NO_SHORT"  # fmt: skip
    assert await risk_keys(rclient) == []


async def test_a_redelivery_under_a_new_config_rebuilds_the_first_intent(
    engine: DecisionEngine, pool: asyncpg.Pool, venue: PaperVenue
) -> None:
    spot = bundle(entry_market="SPOT", spot_exec="GUARD")
    spot_rev = await store.insert_bundle(pool, spot, name="spot")
    fut_rev = await store.insert_bundle(pool, bundle(), name="fut")
    event = snapshot(price=await venue_price(venue, "SPOT"))
    first = await engine.decide(event, spot, spot_rev)
    again = await engine.decide(event, bundle(), fut_rev)  # the config changed meanwhile
    assert not again.fresh and again.decision == first.decision
    assert again.intent == first.intent and first.intent is not None
    assert first.intent.market == "SPOT"


async def test_a_worker_sizes_with_its_instrument_resource(
    tmp_path: Path, venue: PaperVenue, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    rev = await store.insert_bundle(pool, bundle(sizing={"notional_usdt": "50"}), name="t")
    await store.activate(pool, rclient, rev, by="t")
    path = write_topology(tmp_path, ["BTCUSDT"])
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["resources"] = [
        {"name": RESOURCE_NAME, "factory": "handlers.s3_strategy.runtime:instruments_runtime"}
    ]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    environ = {"CHIMERA_VENUE": "paper", "CHIMERA_PAPER_URL": venue.base_url}
    worker = Worker(load_app(path), rclient, consumer="s3", db=pool, environ=environ)
    await worker.start()
    try:
        price = await venue_price(venue)
        event = snapshot(price=price, t0=T0 + 60_000)
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

        async def one_intent() -> bool:
            return int(await rclient.xlen(names.ORD_INTENTS)) == 1

        await until(one_intent)
        [intent] = await entries(rclient, names.ORD_INTENTS, INTENTS)
        # Without the venue's filters this would be 0.001 BTC (under the 100 USDT minimum).
        assert intent.qty * Decimal(price) >= Decimal("100")
    finally:
        await worker.stop()


async def test_decide_over_http_uses_the_mount_catalog(
    venue: PaperVenue, pool: asyncpg.Pool, rclient: RedisClient, db_url: str, redis_url: str
) -> None:
    rev = await store.insert_bundle(pool, bundle(sizing={"notional_usdt": "20"}), name="t")
    await store.activate(pool, rclient, rev, by="t")
    token = "strategy-test-token-0123456789"
    app = create_app(
        service_token=token, redis_url=redis_url, database_url=db_url,
        mounts=[strategy_mount(venue_settings=paper_settings(venue))],
    )  # fmt: skip
    body = msgspec.to_builtins(snapshot(price=await venue_price(venue)))
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        auth = {"Authorization": f"Bearer {token}"}
        answer = await http.post(DECIDE_PATH, json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"]["reason"] == "BELOW_MIN_NOTIONAL"
    assert answer.json()["intent"] is None
