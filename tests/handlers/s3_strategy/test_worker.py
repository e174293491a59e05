"""S3 as a Worker: features in, decisions and intents out, hot reload, redelivery."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec

from chimera import names
from chimera.config import store
from chimera.domain.orders import OrderIntent
from chimera.domain.signals import Decision
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from handlers.s3_strategy.engine import DecisionEngine
from tests.handlers.s3_strategy.support import T0, bundle, snapshot, write_topology
from tests.harness.polling import until

DECISIONS = msgspec.json.Decoder(Decision)
INTENTS = msgspec.json.Decoder(OrderIntent)


async def entries(redis: RedisClient, stream: str, decoder: msgspec.json.Decoder) -> list:  # type: ignore[type-arg]
    return [decoder.decode(f[PAYLOAD_FIELD]) for _, f in await redis.xrange(stream)]


async def start_worker(tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool) -> Worker:
    app = load_app(write_topology(tmp_path, ["BTCUSDT", "ETHUSDT"]))
    worker = Worker(app, rclient, consumer="s3", db=pool, shutdown_grace_s=5)
    await worker.start()
    return worker


async def test_features_become_decisions_and_entry_intents(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    rev = await store.insert_bundle(pool, bundle(), name="t")
    await store.activate(pool, rclient, rev, by="t")
    worker = await start_worker(tmp_path, rclient, pool)
    try:
        btc, eth = snapshot(), snapshot("ETHUSDT", price="2000")
        for event in (btc, eth):
            await rclient.xadd(names.feat_stream(event.symbol), entry_fields(event))  # type: ignore[arg-type]

        async def two_intents() -> bool:
            return int(await rclient.xlen(names.ORD_INTENTS)) == 2

        await until(two_intents)
        decisions = await entries(rclient, names.SIG_EVENTS, DECISIONS)
        intents = await entries(rclient, names.ORD_INTENTS, INTENTS)
        assert sorted((d.symbol, d.action, d.config_rev) for d in decisions) == [
            ("BTCUSDT", "open", rev),
            ("ETHUSDT", "open", rev),
        ]
        assert sorted(i.intent_id for i in intents) == [
            f"{btc.signal_id}:entry",
            f"{eth.signal_id}:entry",
        ]
        rows = await pool.fetch("SELECT signal_id, decision->>'reason' AS r FROM signals")
        assert sorted((r["signal_id"], r["r"]) for r in rows) == sorted(
            [(btc.signal_id, "ENTRY"), (eth.signal_id, "ENTRY")]
        )
    finally:
        await worker.stop()


async def test_a_redelivered_signal_re_emits_its_stored_decision(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    # A first attempt decided and stored, then died before its ack (so nothing was emitted).
    event = snapshot()
    first = await DecisionEngine(rclient, pool).decide(event, bundle(), 0)
    worker = await start_worker(tmp_path, rclient, pool)
    try:
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(event))  # type: ignore[arg-type]

        async def emitted() -> bool:
            return int(await rclient.xlen(names.ORD_INTENTS)) == 1

        await until(emitted)
        assert await entries(rclient, names.SIG_EVENTS, DECISIONS) == [first.decision]
        in_use, count = (
            (await rclient.get(names.RISK_FUT_MARGIN_INUSE)),
            (await rclient.get(names.risk_concurrency_key("BTCUSDT"))),
        )
        assert (in_use, count) == (b"3000", b"1")  # reserved once
    finally:
        await worker.stop()


async def test_activating_a_bundle_changes_decisions_without_a_restart(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = bundle(risk={"max_concurrent_per_symbol": 100})
    first_rev = await store.insert_bundle(pool, config, name="open")
    await store.activate(pool, rclient, first_rev, by="t")
    worker = await start_worker(tmp_path, rclient, pool)
    try:
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(snapshot()))  # type: ignore[arg-type]

        async def decided(n: int) -> Callable[[], object]:
            async def check() -> bool:
                return int(await rclient.xlen(names.SIG_EVENTS)) == n

            return check

        await until(await decided(1))
        # Mid-run: a bundle that halves the notional (and so the quantity) becomes active.
        smaller = msgspec.structs.replace(
            config,
            strategy=msgspec.structs.replace(
                config.strategy,
                sizing=msgspec.structs.replace(config.strategy.sizing, notional_usdt=Decimal(50)),
            ),
        )
        second_rev = await store.insert_bundle(pool, smaller, name="half")
        await store.activate(pool, rclient, second_rev, by="t")

        async def reloaded() -> bool:
            return worker.config.rev == second_rev

        await until(reloaded)
        await rclient.xadd(  # type: ignore[arg-type]
            names.feat_stream("BTCUSDT"), entry_fields(snapshot(t0=T0 + 60_000))
        )
        await until(await decided(2))
        decisions = await entries(rclient, names.SIG_EVENTS, DECISIONS)
        assert [(d.config_rev, d.qty) for d in decisions] == [
            (first_rev, Decimal("0.003")),
            (second_rev, Decimal("0.001")),
        ]
    finally:
        await worker.stop()
