"""The venue-fault scenarios' rig: S4 and S6 on the root topology, the paper venue, short timeouts.

Like ``tests.flows.support.flow_rig``, plus what fault tests need: ccxt's request timeout
(``CHIMERA_VENUE_TIMEOUT_MS``) and S4's re-send window (``router.unknown_resend_after_ms``) cut
to a second, so a timeout costs a second instead of ten; ``PaperControl`` to arm faults; and
``open_entry``, which does what S3 does for an entry (reserve the B7 budget, then publish the
intent on ``ord:{intents}``) with a quantity the test chooses.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from chimera import names
from chimera.config import store
from chimera.config.bundle import ConfigBundle, load_bundle
from chimera.domain.orders import OrderIntent
from chimera.paper.control import PaperControl
from chimera.paper.faults import FaultRule
from chimera.paper.trading.plugin import make_plugin
from chimera.paper.venue import PaperVenue
from chimera.risk import RiskLedger
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import Worker
from tests.chimera.paper.venue_fixtures import running_venue, venue_config
from tests.flows.support import ROOT, redis_url_of
from tests.harness.polling import until

TIMEOUT_MS = 1_000
RESEND_AFTER_MS = 1_000
BINDINGS = ["s4-intents", "s6-entry"]
PERP = "BTC/USDT:USDT"
ORDER = "/fapi/v1/order"
ALGO = "/fapi/v1/algoOrder"
MARGIN_USDT = Decimal("100")


def fault_bundle() -> ConfigBundle:
    """The shipped bundle with S4's re-send window cut to ``RESEND_AFTER_MS``."""
    raw = msgspec.to_builtins(load_bundle(ROOT / "config" / "bundle.yaml"))
    raw["router"] = {**raw.get("router", {}), "unknown_resend_after_ms": RESEND_AFTER_MS}
    return msgspec.convert(raw, ConfigBundle)


@dataclass
class FaultRig:
    """A venue, its fault control, an active bundle and a worker running S4 and S6."""

    venue: PaperVenue
    control: PaperControl
    worker: Worker
    redis: RedisClient
    pool: asyncpg.Pool
    config: ConfigBundle
    environ: dict[str, str]

    async def fault(self, kind: str, path: str, method: str = "POST", **fields: Any) -> None:
        """Arm one fault on the venue."""
        await self.control.arm_fault(
            FaultRule(kind=kind, path_prefix=path, method=method, **fields)  # type: ignore[arg-type]
        )

    async def open_entry(self, label: str, qty: Decimal = Decimal("0.01")) -> OrderIntent:
        """Reserve the budget of a FUT BTCUSDT long and publish its entry, as S3 does."""
        signal_id = f"{label}-{uuid.uuid4().hex[:8]}"
        reservation = await RiskLedger(self.redis).reserve(
            signal_id, "BTCUSDT", MARGIN_USDT, self.config.risk
        )
        assert reservation.ok, reservation
        intent = OrderIntent(
            intent_id=f"{signal_id}:entry",
            market="FUT",
            symbol="BTCUSDT",
            side="buy",
            qty=qty,
            signal_id=signal_id,
        )
        await self.publish(intent)
        return intent

    async def publish(self, intent: OrderIntent) -> None:
        """Put ``intent`` on ``ord:{intents}``."""
        await self.redis.xadd(names.ORD_INTENTS, entry_fields(intent))  # type: ignore[arg-type]

    async def status(self, intent_id: str) -> str | None:
        """Return the status of the intent's (first) order row."""
        got = await self.pool.fetchval(
            "SELECT status FROM orders WHERE intent_id = $1 ORDER BY created_ts_ms LIMIT 1",
            intent_id,
        )
        return None if got is None else str(got)

    async def wait_status(self, intent_id: str, *statuses: str, within: float = 30) -> None:
        """Wait until the intent's order row is in one of ``statuses``."""

        async def reached() -> bool:
            return await self.status(intent_id) in statuses

        await until(reached, within, f"{intent_id} in {statuses}")

    async def wait_protected(self, entry: OrderIntent, within: float = 30) -> None:
        """Wait until S6's stop and take-profit of ``entry`` rest at the venue (rows NEW)."""
        for leg in ("sl", "tp"):
            await self.wait_status(f"{entry.intent_id}:{leg}", "NEW", within=within)

    async def alerts(self) -> list[asyncpg.Record]:
        """Return every ``alerts`` row."""
        return list(await self.pool.fetch("SELECT * FROM alerts ORDER BY alert_id"))

    def worker_for(self, bindings: list[str], schedules: list[str], consumer: str) -> Worker:
        """Return (not started) another worker of the root topology on the same venue."""
        return Worker(
            load_app(ROOT / "streams.yaml"),
            self.redis,
            consumer=consumer,
            bindings=bindings,
            schedules=schedules,
            db=self.pool,
            shutdown_grace_s=5,
            retention=False,
            environ=self.environ,
        )


@asynccontextmanager
async def fault_rig(
    tmp_path: Path,
    redis: RedisClient,
    pool: asyncpg.Pool,
    *,
    bindings: list[str] | None = None,
    schedules: list[str] | None = None,
) -> AsyncIterator[FaultRig]:
    """Yield a running ``FaultRig``; stop the worker, clear the faults and stop the venue after."""
    config = fault_bundle()
    async with running_venue(venue_config(state_dir=str(tmp_path / "venue")), make_plugin) as venue:
        rev = await store.insert_bundle(pool, config, name="venue-faults")
        await store.activate(pool, redis, rev, by="venue-faults-test")
        environ = {
            "CHIMERA_VENUE": "paper",
            "CHIMERA_PAPER_URL": venue.base_url,
            "CHIMERA_VENUE_TIMEOUT_MS": str(TIMEOUT_MS),
            "CHIMERA_REDIS_URL": redis_url_of(redis),
        }
        async with PaperControl(venue.base_url) as control:
            rig = FaultRig(venue, control, None, redis, pool, config, environ)  # type: ignore[arg-type]
            rig.worker = rig.worker_for(
                BINDINGS if bindings is None else bindings,
                ["s4-conditionals"] if schedules is None else schedules,
                "faults",
            )
            await rig.worker.start()
            try:
                yield rig
            finally:
                await control.clear_faults()
                await rig.worker.stop()


__all__ = ["ALGO", "BINDINGS", "ORDER", "PERP", "FaultRig", "fault_bundle", "fault_rig"]
