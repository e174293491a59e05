"""Shared pieces of the treasury tests: schema, policy, and the flow-test venue double.

``LedgerVenue`` implements the ``TreasuryVenue`` protocol in memory. It exists only to unit-test
the transfer flow's branches quickly; the acceptance tests (test_treasury_paper.py) go through
ccxt to the paper venue instead.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import asyncpg
import msgspec

from chimera.config.treasury import Account, TransferRoute, TreasuryPolicy
from chimera.names import OPS_EVENTS
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD
from handlers.s1_connectors.treasury import TreasuryTransferAudit
from handlers.s1_connectors.treasury_venue import (
    TransferOutcomeUnknown,
    TransferRejected,
    VenueTransfer,
)

ROOT = Path(__file__).resolve().parents[3]
MIGRATION = ROOT / "migrations" / "0003_treasury.sql"
TOKEN = "treasury-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

POLICY = TreasuryPolicy(
    routes=(
        TransferRoute("USDT", "SPOT", "FUTURES"),
        TransferRoute("USDT", "FUTURES", "SPOT"),
    ),
    per_transfer_max={"USDT": Decimal("1000")},
    daily_max={"USDT": Decimal("1500")},
    lock_ttl_ms=10_000,
    lock_wait_ms=200,
    resubmit_after_ms=500,
    lookup_skew_ms=1_000,
)

_audit = msgspec.json.Decoder(TreasuryTransferAudit)


async def create_schema(db_url: str) -> None:
    """Apply this stage's migration to a fresh test database."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(MIGRATION.read_text())
    finally:
        await conn.close()


async def audits(redis: RedisClient) -> list[TreasuryTransferAudit]:
    """Return every treasury audit entry on ``ops:events`` in order."""
    entries = await redis.xrange(OPS_EVENTS)
    return [_audit.decode(fields[PAYLOAD_FIELD]) for _, fields in entries]


async def table_states(db_url: str, transfer_id: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Return the transfer's state and its (from, to) event history."""
    conn = await asyncpg.connect(db_url)
    try:
        state = await conn.fetchval(
            "SELECT state FROM treasury_transfers WHERE transfer_id = $1", transfer_id
        )
        rows = await conn.fetch(
            "SELECT from_state, to_state FROM treasury_transfer_events "
            "WHERE transfer_id = $1 ORDER BY seq",
            transfer_id,
        )
    finally:
        await conn.close()
    return state, [(r["from_state"] or "-", r["to_state"]) for r in rows]


async def row_counts(db_url: str) -> tuple[int, int]:
    """Return how many transfers and events the database holds."""
    conn = await asyncpg.connect(db_url)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM treasury_transfers"),
            await conn.fetchval("SELECT count(*) FROM treasury_transfer_events"),
        )
    finally:
        await conn.close()


Fault = Literal["timeout_after_accept", "timeout_before_accept", "reject"]


class LedgerVenue:
    """An in-memory ``TreasuryVenue`` (flow unit tests only) with a settable clock and faults."""

    def __init__(self) -> None:
        self.clock_ms = 1_700_000_000_000
        self.balances: dict[tuple[str, str], Decimal] = {
            ("USDT", "SPOT"): Decimal("10000"),
            ("USDT", "FUTURES"): Decimal("0"),
        }
        self.transfers: list[tuple[VenueTransfer, str, str]] = []
        self.submit_calls = 0
        self.faults: list[Fault] = []

    async def now_ms(self) -> int:
        return self.clock_ms

    async def submit(
        self, asset: str, amount: Decimal, from_account: Account, to_account: Account
    ) -> str:
        self.submit_calls += 1
        fault = self.faults.pop(0) if self.faults else None
        if fault == "reject":
            raise TransferRejected("InsufficientFunds: binance {'code':-5013}")
        if fault == "timeout_before_accept":
            raise TransferOutcomeUnknown("RequestTimeout: dropped before execution")
        if self.balances[(asset, from_account)] < amount:
            raise TransferRejected("InsufficientFunds")
        self.balances[(asset, from_account)] -= amount
        self.balances[(asset, to_account)] += amount
        tran_id = str(1000 + len(self.transfers))
        record = VenueTransfer(tran_id, asset, amount, self.clock_ms, "CONFIRMED")
        self.transfers.append((record, from_account, to_account))
        if fault == "timeout_after_accept":
            raise TransferOutcomeUnknown("RequestTimeout: executed, answer lost")
        return tran_id

    async def transfers_since(
        self, asset: str, from_account: Account, to_account: Account, since_ms: int
    ) -> list[VenueTransfer]:
        return [
            t
            for t, src, dst in self.transfers
            if t.asset == asset and src == from_account and dst == to_account
            and t.timestamp_ms >= since_ms
        ]  # fmt: skip
