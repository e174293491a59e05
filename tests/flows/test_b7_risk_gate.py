"""Flow B7 end to end: S3 reserves, refuses over budget (RISK_BUDGET), and an entry that ends
with nothing filled gives its reservation back exactly once (S4 REJECTED → S6 release).

One open position per symbol is allowed. The first signal opens and fills; the second is refused
with ``RISK_BUDGET`` (no intent, nothing reserved). A second symbol's entry is rejected by the
venue (an injected ``-2019 Margin is insufficient``): its reservation is released, so that
symbol's next signal opens again. Redis budget keys, ``signals.decision``, ``orders`` and
``ord:{results}`` are checked at every step.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import msgspec
import pytest

from chimera import names
from chimera.domain.orders import OrderIntent
from chimera.paper.control import PaperControl
from chimera.paper.faults import FaultRule
from chimera.risk import RiskLedger, margin_units
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from tests.flows.support import flow_rig, stream_payloads
from tests.handlers.s3_strategy.support import T0, bundle, snapshot
from tests.harness.polling import until

pytestmark = pytest.mark.timeout(180)
B7_BINDINGS = ["s3-decide", "s4-intents", "s6-entry"]


async def decision_of(pool: asyncpg.Pool, signal_id: str) -> dict[str, object] | None:
    raw = await pool.fetchval("SELECT decision FROM signals WHERE signal_id = $1", signal_id)
    return None if raw is None else json.loads(raw)  # type: ignore[no-any-return]


async def test_b7_reserve_refuse_and_release_on_an_empty_entry(
    tmp_path: Path, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    config = bundle(
        sizing={"notional_usdt": "300"},
        risk={"max_concurrent_per_symbol": 1, "fut_margin_cap_usdt": "1000"},
    )
    ledger = RiskLedger(rclient)
    async with flow_rig(tmp_path, rclient, pool, config, B7_BINDINGS) as rig:
        btc = (await rig.mid()).quantize(Decimal("0.1"))
        eth = (await rig.mid("ETH/USDT:USDT")).quantize(Decimal("0.01"))

        async def decided(signal_id: str) -> None:
            async def check() -> bool:
                return await decision_of(pool, signal_id) is not None

            await until(check, 30, f"decision of {signal_id}")

        async def result_status(intent_id: str, status: str) -> None:
            async def check() -> bool:
                got = await pool.fetchval(
                    "SELECT status FROM orders WHERE intent_id = $1", intent_id
                )
                return bool(got == status)

            await until(check, 30, f"{intent_id} {status}")

        # 1. BTC opens: reserved margin and one concurrency slot; the entry fills.
        first = snapshot("BTCUSDT", t0=T0, price=str(btc))
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(first))  # type: ignore[arg-type]
        await result_status(f"{first.signal_id}:entry", "FILLED")
        d1 = await decision_of(pool, first.signal_id)
        assert d1 is not None and d1["action"] == "open"
        margin_btc = margin_units(Decimal(str(d1["margin_usdt"])))
        assert int(await rclient.get(names.RISK_FUT_MARGIN_INUSE)) == margin_btc
        assert (await ledger.usage("BTCUSDT"))[1] == 1

        # 2. BTC's next signal: the symbol's slot is taken → skip RISK_BUDGET, nothing reserved.
        second = snapshot("BTCUSDT", t0=T0 + 60_000, price=str(btc))
        await rclient.xadd(names.feat_stream("BTCUSDT"), entry_fields(second))  # type: ignore[arg-type]
        await decided(second.signal_id)
        d2 = await decision_of(pool, second.signal_id)
        assert d2 is not None and (d2["action"], d2["reason"]) == ("skip", "RISK_BUDGET")
        assert int(await rclient.get(names.RISK_FUT_MARGIN_INUSE)) == margin_btc
        assert (await ledger.usage("BTCUSDT"))[1] == 1

        # 3. ETH opens, but the venue rejects the order: S4 records REJECTED, S6 releases.
        async with PaperControl(rig.venue.base_url) as control:
            await control.arm_fault(
                FaultRule(
                    kind="reject",
                    path_prefix="/fapi/v1/order",
                    method="POST",
                    code=-2019,
                    msg="Margin is insufficient.",
                )
            )
        third = snapshot("ETHUSDT", t0=T0, price=str(eth))
        await rclient.xadd(names.feat_stream("ETHUSDT"), entry_fields(third))  # type: ignore[arg-type]
        await result_status(f"{third.signal_id}:entry", "REJECTED")

        async def eth_released() -> bool:
            return (await ledger.usage("ETHUSDT"))[1] == 0

        await until(eth_released, 30, "ETH reservation released")
        assert int(await rclient.get(names.RISK_FUT_MARGIN_INUSE)) == margin_btc
        message = await pool.fetchval(
            "SELECT message FROM orders WHERE intent_id = $1", f"{third.signal_id}:entry"
        )
        assert "insufficient" in message.lower()

        # 4. ETH's next signal opens again: the released slot and margin are usable.
        fourth = snapshot("ETHUSDT", t0=T0 + 60_000, price=str(eth))
        await rclient.xadd(names.feat_stream("ETHUSDT"), entry_fields(fourth))  # type: ignore[arg-type]
        await result_status(f"{fourth.signal_id}:entry", "FILLED")
        d4 = await decision_of(pool, fourth.signal_id)
        assert d4 is not None and d4["action"] == "open"
        margin_eth = margin_units(Decimal(str(d4["margin_usdt"])))
        assert int(await rclient.get(names.RISK_FUT_MARGIN_INUSE)) == margin_btc + margin_eth
        assert (await ledger.usage("ETHUSDT"))[1] == 1

        # A redelivered REJECTED result does not release twice.
        assert not await ledger.release(third.signal_id, "ETHUSDT")
        assert (await ledger.usage("ETHUSDT"))[1] == 1
        intents = await stream_payloads(
            rclient, names.ORD_INTENTS, msgspec.json.Decoder(OrderIntent)
        )
        entries = sorted(i.intent_id for i in intents if i.purpose == "ENTRY")
        assert entries == sorted(
            f"{s.signal_id}:entry" for s in (first, third, fourth)
        )  # no intent for the refused signal
