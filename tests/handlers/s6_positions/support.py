"""Shared pieces of the S6 tests: the binding's topology, entry results, a deliverer, S4's rows."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import yaml

from chimera import names
from chimera.config.bundle import ConfigBundle, load_bundle
from chimera.domain.features import RegimeLabel, RegimeState
from chimera.domain.orders import OrderIntent, OrderResult
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.context import Context, Resources
from chimera_workers.keys import PAYLOAD_FIELD
from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app
from handlers.s4_router.store import OrderRecord, OrderStore
from handlers.s6_positions.entry import on_order_result
from tests.handlers.s3_strategy.support import ROOT, snapshot

SIGNAL = "BTCUSDT:1700000040000"
ENTRY = f"{SIGNAL}:entry"
CONFIG = load_bundle(ROOT / "config" / "bundle.yaml")
_INTENT = msgspec.json.Decoder(OrderIntent)


def make_app(directory: Path) -> App:
    """S6 bound on ``ord:{results}``, emitting on ``ord:{intents}`` (the stanza of the report)."""
    doc = {
        "version": 1,
        "streams": [
            {"name": names.ORD_RESULTS, "type": "chimera.domain.orders:OrderResult"},
            {"name": names.ORD_INTENTS, "type": "chimera.domain.orders:OrderIntent"},
            {"name": names.POS_EVENTS, "type": "chimera.domain.positions:PositionEvent"},
        ],
        "bindings": [
            {
                "name": "s6-entry",
                "stream": names.ORD_RESULTS,
                "handler": "handlers.s6_positions.entry:on_order_result",
                "ordering_key": "intent_id",
            }
        ],
    }
    path = directory / "streams.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_app(path)


def result(**fields: Any) -> OrderResult:
    """S3's FUT BTCUSDT market-buy entry, FILLED 0.003 at 50000.0; ``fields`` change it."""
    values: dict[str, Any] = {
        "intent_id": ENTRY,
        "client_order_id": f"{ENTRY}.mk",
        "market": "FUT",
        "symbol": "BTCUSDT",
        "side": "buy",
        "status": "FILLED",
        "purpose": "ENTRY",
        "qty": Decimal("0.003"),
        "filled_qty": Decimal("0.003"),
        "avg_price": Decimal("50000.0"),
        "signal_id": SIGNAL,
        "ts_ms": 1_700_000_041_000,
    }
    values.update(fields)
    return OrderResult(**values)


def leg_result(leg: str, status: str, qty: str, filled: str, **fields: Any) -> OrderResult:
    """A result of leg ``leg`` of ``ENTRY`` (price 50000.0 when anything filled)."""
    values: dict[str, Any] = {
        "client_order_id": f"{fields.get('intent_id', ENTRY)}.{leg}",
        "status": status,
        "qty": Decimal(qty),
        "filled_qty": Decimal(filled),
        "avg_price": Decimal("50000.0") if Decimal(filled) > 0 else None,
    }
    values.update(fields)
    return result(**values)


class Deliverer:
    """Deliver ``ord:{results}`` entries to the handler the way a worker does.

    What the handler emits is written to ``ord:{intents}`` afterwards, as the runner does with
    the ack, so tests can read the stream S4 consumes.
    """

    def __init__(
        self,
        app: App,
        redis: RedisClient,
        config: ConfigBundle = CONFIG,
        db: asyncpg.Pool | None = None,
        config_rev: int = 7,
    ) -> None:
        self.resources = Resources(app, redis, db, None)
        self.redis = redis
        self.config = config
        self.config_rev = config_rev

    async def add(self, event: OrderResult) -> bytes:
        entry_id = await self.redis.xadd(names.ORD_RESULTS, entry_fields(event))  # type: ignore[arg-type]
        return entry_id if isinstance(entry_id, bytes) else str(entry_id).encode()

    async def deliver(
        self, entry_id: bytes, event: OrderResult, count: int = 1
    ) -> list[OrderIntent]:
        ctx = Context(
            self.resources,
            self.config,
            self.config_rev,
            names.ORD_RESULTS,
            entry_id,
            count,
            entry_fields(event),
        )
        await on_order_result(event, ctx)
        assert all(stream in (names.ORD_INTENTS, names.POS_EVENTS) for stream, _ in ctx.emits)
        for stream, fields in ctx.emits:
            await self.redis.xadd(stream, fields)  # type: ignore[arg-type]
        return [
            _INTENT.decode(fields[PAYLOAD_FIELD])
            for stream, fields in ctx.emits
            if stream == names.ORD_INTENTS
        ]

    async def send(self, event: OrderResult) -> list[OrderIntent]:
        """Add ``event`` to ``ord:{results}`` and deliver it once."""
        return await self.deliver(await self.add(event), event)


async def published_intents(redis: RedisClient) -> list[OrderIntent]:
    """Return every intent on ``ord:{intents}``, oldest first."""
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await redis.xrange(names.ORD_INTENTS)  # type: ignore[assignment]
    return [_INTENT.decode(fields[PAYLOAD_FIELD]) for _, fields in entries]


async def publish_features(redis: RedisClient, atr: float | None, symbol: str = "BTCUSDT") -> None:
    event = snapshot(symbol, atr=atr)
    await redis.xadd(names.feat_stream(symbol), entry_fields(event))  # type: ignore[arg-type]


async def set_regime(
    redis: RedisClient, label: RegimeLabel, *, expires_ms: int = 4_000_000_000_000
) -> None:
    """Write S2's regime state (the key itself without a TTL, so an old label can be stored)."""
    state = RegimeState(label, 97.0, rev=1, expires_ms=expires_ms, ts_ms=1, symbol="BTCUSDT")
    await redis.set(names.REGIME_STATE, msgspec.json.encode(state))


def entry_intent(exec_style: str = "TWAP", slices: int = 3, **fields: Any) -> OrderIntent:
    """S3's entry intent as S4 accepted it (``strategy_events`` row ``intent:<id>``)."""
    values: dict[str, Any] = {
        "intent_id": ENTRY,
        "market": "FUT",
        "symbol": "BTCUSDT",
        "side": "buy",
        "qty": Decimal("0.003"),
        "exec": exec_style,
        "twap_slices": slices,
        "twap_interval_ms": 60_000 if exec_style == "TWAP" else 0,
        "signal_id": SIGNAL,
    }
    values.update(fields)
    return OrderIntent(**values)


async def store_as_s4(
    pool: asyncpg.Pool, intent: OrderIntent, results: Sequence[OrderResult] = ()
) -> None:
    """Write what S4 writes before it publishes ``results``: the intent and the order rows."""
    store = OrderStore(pool)
    await store.accept_intent(intent, 1_700_000_040_500)
    for res in results:
        record = OrderRecord(
            client_order_id=res.client_order_id,
            intent_id=res.intent_id,
            market=res.market,
            symbol=res.symbol,
            side=res.side,
            order_type="MARKET",
            purpose=res.purpose,
            status=res.status,
            qty=res.qty,
            created_ts_ms=res.ts_ms,
            updated_ts_ms=res.ts_ms,
            filled_qty=res.filled_qty,
            avg_price=res.avg_price,
            signal_id=res.signal_id,
            message=res.message,
        )
        if not await store.insert_order(record):
            await store.update_order(record)
