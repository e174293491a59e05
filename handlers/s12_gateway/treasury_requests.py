"""B8's requests in ``treasury_transfers``: filing one, recording an approval, reading them back.

These are the writes S1's ``TreasuryService`` does not make: a row born ``PENDING_APPROVAL``
(filed by an operator or by S6's check) and the approval (``approved_by``/``approved_ms``) that
lets S1 run it. Each is one transaction holding the route's ``lock:{treasury}:<from>:<to>``
fencing token (the same lock S1 executes under), writes the row and its
``treasury_transfer_events`` row together, and is sent to ``ops:events`` by S1's audit emitter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import msgspec

from chimera.http import ServiceBusy
from chimera.names import treasury_lock
from chimera_workers.locks import FencedLock
from handlers.s1_connectors.treasury import TransferRequest, TreasuryService
from handlers.s1_connectors.treasury_store import TransferRow

# States in which a request may still move money; S6 files no second request beside one.
OPEN_STATES = ("PENDING_APPROVAL", "PENDING", "SUBMITTED", "UNKNOWN")

_EVENT_SQL = """
INSERT INTO treasury_transfer_events
    (transfer_id, seq, from_state, to_state, actor, message, venue_tran_id, at_ms)
VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM treasury_transfer_events
             WHERE transfer_id = $1), $2, $3, $4, $5, NULL, $6)
"""
_ROW_COLUMNS = ", ".join(TransferRow.__struct_fields__)


class TransferView(msgspec.Struct, frozen=True):
    """A treasury transfer as operators see it (amount as a decimal string)."""

    transfer_id: str
    state: str
    asset: str
    amount: str
    from_account: str
    to_account: str
    requested_by: str
    approved_by: str | None
    approved_ms: int | None
    reason: str | None
    message: str
    venue_tran_id: str | None
    created_ms: int
    updated_ms: int


def amount_text(amount: Decimal) -> str:
    """Return ``amount`` without trailing zeros or an exponent (250.00000000 -> 250)."""
    return format(amount.normalize(), "f")


def request_of(row: TransferRow) -> TransferRequest:
    """Return the S1 request that (re)runs a stored transfer: the same fields, so no conflict."""
    return TransferRequest(
        transfer_id=row.transfer_id, asset=row.asset, amount=amount_text(row.amount),
        from_account=row.from_account, to_account=row.to_account,
        requested_by=row.requested_by, reason=row.reason,
    )  # fmt: skip


def wall_ms() -> int:
    """Return the wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class TreasuryRequests:
    """Reads and the B8 writes of ``treasury_transfers``, under S1's route lock."""

    def __init__(self, service: TreasuryService, clock_ms: Callable[[], int] = wall_ms) -> None:
        self.service = service
        self.db: asyncpg.Pool = service.store.db
        self.clock_ms = clock_ms

    async def view(self, transfer_id: str) -> TransferView | None:
        """Return the transfer ``transfer_id`` as operators see it, or None."""
        record = await self.db.fetchrow(
            f"SELECT {', '.join(TransferView.__struct_fields__)} FROM treasury_transfers "
            "WHERE transfer_id = $1",
            transfer_id,
        )
        if record is None:
            return None
        fields = dict(record)
        fields["amount"] = amount_text(fields["amount"])
        return TransferView(**fields)

    async def listing(self, state: str | None, limit: int) -> list[TransferView]:
        """Return up to ``limit`` transfers (in ``state`` if given), newest first."""
        records = await self.db.fetch(
            f"SELECT {', '.join(TransferView.__struct_fields__)} FROM treasury_transfers "
            "WHERE $1::text IS NULL OR state = $1 ORDER BY created_ms DESC, transfer_id LIMIT $2",
            state, limit,
        )  # fmt: skip
        return [TransferView(**{**dict(r), "amount": amount_text(r["amount"])}) for r in records]

    async def open_on_route(
        self, asset: str, from_account: str, to_account: str
    ) -> list[TransferRow]:
        """Return the open (not yet final) transfers of ``asset`` on the route, oldest first."""
        rows = await self.db.fetch(
            f"SELECT {_ROW_COLUMNS} FROM treasury_transfers WHERE asset = $1 AND "
            "from_account = $2 AND to_account = $3 AND state = ANY($4::text[]) "
            "ORDER BY created_ms, transfer_id",
            asset, from_account, to_account, list(OPEN_STATES),
        )  # fmt: skip
        return [TransferRow(**dict(r)) for r in rows]

    @asynccontextmanager
    async def route_lock(self, from_account: str, to_account: str) -> AsyncIterator[int]:
        """Hold ``lock:{treasury}:<from>:<to>`` (TTL) and yield its fencing token.

        Wait up to the policy's ``lock_wait_ms``; then ``ServiceBusy`` (nothing written).
        """
        policy = self.service.policy
        lock = FencedLock(
            self.service.redis, treasury_lock(from_account, to_account), ttl_ms=policy.lock_ttl_ms
        )
        deadline = time.monotonic() + policy.lock_wait_ms / 1000
        token = await lock.acquire()
        while token is None:
            if time.monotonic() >= deadline:
                raise ServiceBusy(
                    f"another transfer on {from_account}->{to_account} is in progress",
                    hint="retry the same request shortly",
                )
            await asyncio.sleep(0.05)
            token = await lock.acquire()
        try:
            yield token
        finally:
            await lock.release(token)

    async def file_locked(
        self, req: TransferRequest, token: int, *, message: str
    ) -> TransferRow | None:
        """Store ``req`` as PENDING_APPROVAL (caller holds the route lock as ``token``).

        Return the new row, or None if its transfer_id already exists.
        """
        now = self.clock_ms()
        row = TransferRow(
            transfer_id=req.transfer_id, asset=req.asset, amount=req.quantity,
            from_account=req.from_account, to_account=req.to_account, state="PENDING_APPROVAL",
            requested_by=req.requested_by, approved_by=None, reason=req.reason, message=message,
            venue_tran_id=None, venue_submitted_ms=None, submit_count=0, fence=token,
            created_ms=now, updated_ms=now,
        )  # fmt: skip
        async with self.db.acquire() as conn, conn.transaction():
            return await self.service.store.insert(conn, row, actor=req.requested_by)

    async def approve_locked(
        self, row: TransferRow, operator: str, token: int
    ) -> TransferRow | None:
        """Record ``operator``'s approval of ``row`` (caller holds the route lock as ``token``).

        Return the updated row, or None when the row is no longer an unapproved
        PENDING_APPROVAL request of someone else (nothing written then).
        """
        now = self.clock_ms()
        message = f"approved by {operator}; handed to S1"
        async with self.db.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"""UPDATE treasury_transfers SET approved_by = $2, approved_ms = $3,
                       updated_ms = $3, fence = $4, message = $5
                   WHERE transfer_id = $1 AND state = 'PENDING_APPROVAL'
                     AND approved_by IS NULL AND requested_by <> $2 AND fence <= $4
                   RETURNING {_ROW_COLUMNS}""",
                row.transfer_id, operator, now, token, message,
            )  # fmt: skip
            if record is None:
                return None
            # The approval is an audited change of the request, though its state stays put.
            await conn.execute(
                _EVENT_SQL, row.transfer_id, "PENDING_APPROVAL", "PENDING_APPROVAL", operator,
                message, now,
            )  # fmt: skip
        return TransferRow(**dict(record))

    async def reject_locked(
        self, row: TransferRow, operator: str, token: int, reason: str | None
    ) -> TransferRow:
        """Move ``row`` PENDING_APPROVAL -> REJECTED as ``operator`` (caller holds the lock)."""
        why = f": {reason}" if reason else ""
        return await self.service.store.transition(
            row.transfer_id, "PENDING_APPROVAL", "REJECTED", fence=token, actor=operator,
            message=f"rejected by {operator}{why}", now_ms=self.clock_ms(),
        )  # fmt: skip


__all__ = [
    "OPEN_STATES",
    "TransferView",
    "TreasuryRequests",
    "amount_text",
    "request_of",
    "wall_ms",
]
