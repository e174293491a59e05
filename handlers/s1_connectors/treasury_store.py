"""``treasury_transfers`` and ``treasury_transfer_events`` (migrations/0003_treasury.sql).

Every state change is one transaction: the guarded UPDATE of the transfer (it must still be in
the expected state, and the writer's fencing token must not be older than the last writer's)
plus its event row. Events are emitted to ``ops:events`` from the table (``emit_pending``), so an
event whose emission failed is sent by the next caller instead of being lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import msgspec

from chimera.config.treasury import Account
from chimera.http.errors import Conflict

TransferState = str  # one of STATES; the table's CHECK constraint is the authority
STATES = (
    "PENDING_APPROVAL",
    "PENDING",
    "SUBMITTED",
    "SUCCEEDED",
    "FAILED",
    "UNKNOWN",
    "REJECTED",
)
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "REJECTED"})
# What counts against the daily limit: everything that may move money or already did.
COUNTED_STATES = ("PENDING", "SUBMITTED", "SUCCEEDED", "UNKNOWN")


class TransferRow(msgspec.Struct, frozen=True):
    """One ``treasury_transfers`` row."""

    transfer_id: str
    asset: str
    amount: Decimal
    from_account: Account
    to_account: Account
    state: TransferState
    requested_by: str
    approved_by: str | None
    reason: str | None
    message: str
    venue_tran_id: str | None
    venue_submitted_ms: int | None
    submit_count: int
    fence: int
    created_ms: int
    updated_ms: int


class EventRow(msgspec.Struct, frozen=True):
    """One ``treasury_transfer_events`` row joined with its transfer's route and amount."""

    id: int
    transfer_id: str
    seq: int
    from_state: str | None
    to_state: str
    actor: str
    message: str
    venue_tran_id: str | None
    at_ms: int
    asset: str
    amount: Decimal
    from_account: str
    to_account: str


class StaleTransition(Conflict):
    """The transfer moved on, or a newer lock holder wrote it, since this caller read it."""


_ROW_COLUMNS = ", ".join(TransferRow.__struct_fields__)
_EVENT_SQL = """
INSERT INTO treasury_transfer_events
    (transfer_id, seq, from_state, to_state, actor, message, venue_tran_id, at_ms)
VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM treasury_transfer_events
             WHERE transfer_id = $1), $2, $3, $4, $5, $6, $7)
"""


def _row(record: asyncpg.Record) -> TransferRow:
    return TransferRow(**dict(record))


class TreasuryStore:
    """Reads and state changes of treasury transfers in PostgreSQL."""

    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db

    async def get(self, transfer_id: str) -> TransferRow | None:
        """Return the transfer ``transfer_id`` or None."""
        record = await self.db.fetchrow(
            f"SELECT {_ROW_COLUMNS} FROM treasury_transfers WHERE transfer_id = $1", transfer_id
        )
        return None if record is None else _row(record)

    @asynccontextmanager
    async def asset_transaction(self, asset: str) -> AsyncIterator[asyncpg.Connection]:
        """Open a transaction holding the asset's advisory lock (daily-limit checks serialize)."""
        async with self.db.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"treasury:{asset}"
            )
            yield conn

    @staticmethod
    async def daily_total(
        conn: asyncpg.Connection, asset: str, day_start_ms: int, *, excluding: str
    ) -> Decimal:
        """Sum the counted transfers of ``asset`` created in the UTC day from ``day_start_ms``."""
        total = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM treasury_transfers WHERE asset = $1 "
            "AND created_ms >= $2 AND created_ms < $3 AND state = ANY($4::text[]) "
            "AND transfer_id <> $5",
            asset,
            day_start_ms,
            day_start_ms + 86_400_000,
            list(COUNTED_STATES),
            excluding,
        )
        return Decimal(total)

    @staticmethod
    async def insert(
        conn: asyncpg.Connection, row: TransferRow, *, actor: str
    ) -> TransferRow | None:
        """Insert ``row`` with its creation event; return None if the transfer_id exists."""
        record = await conn.fetchrow(
            f"INSERT INTO treasury_transfers ({_ROW_COLUMNS}) VALUES "
            f"({', '.join(f'${i}' for i in range(1, len(TransferRow.__struct_fields__) + 1))}) "
            f"ON CONFLICT (transfer_id) DO NOTHING RETURNING {_ROW_COLUMNS}",
            *msgspec.structs.astuple(row),
        )
        if record is None:
            return None
        await conn.execute(
            _EVENT_SQL, row.transfer_id, None, row.state, actor, row.message, None, row.created_ms
        )
        return _row(record)

    @staticmethod
    async def transition_in(
        conn: asyncpg.Connection,
        transfer_id: str,
        expected: TransferState,
        new: TransferState,
        *,
        fence: int,
        actor: str,
        message: str,
        now_ms: int,
        venue_tran_id: str | None = None,
        venue_submitted_ms: int | None = None,
    ) -> TransferRow:
        """Move ``transfer_id`` from ``expected`` to ``new`` on ``conn`` and record the event.

        Raise ``StaleTransition`` when the row is not in ``expected`` any more or a writer
        with a newer fencing token has written it (this caller's lock expired).
        """
        record = await conn.fetchrow(
            f"""UPDATE treasury_transfers SET state = $3, fence = $4, message = $5,
                   updated_ms = $6, venue_tran_id = coalesce($7, venue_tran_id),
                   venue_submitted_ms = coalesce($8, venue_submitted_ms),
                   submit_count = submit_count + (CASE WHEN $3 = 'SUBMITTED' THEN 1 ELSE 0 END)
               WHERE transfer_id = $1 AND state = $2 AND fence <= $4
               RETURNING {_ROW_COLUMNS}""",
            transfer_id, expected, new, fence, message, now_ms, venue_tran_id,
            venue_submitted_ms,
        )  # fmt: skip
        if record is None:
            raise StaleTransition(
                f"transfer {transfer_id} is no longer {expected} or was taken over by a newer "
                "holder of its lock",
                hint="retry with the same transfer_id to get its current result",
            )
        await conn.execute(
            _EVENT_SQL, transfer_id, expected, new, actor, message, venue_tran_id, now_ms
        )
        return _row(record)

    async def transition(
        self,
        transfer_id: str,
        expected: TransferState,
        new: TransferState,
        *,
        fence: int,
        actor: str,
        message: str,
        now_ms: int,
        venue_tran_id: str | None = None,
        venue_submitted_ms: int | None = None,
    ) -> TransferRow:
        """Run ``transition_in`` in a transaction of its own."""
        async with self.db.acquire() as conn, conn.transaction():
            return await self.transition_in(
                conn, transfer_id, expected, new, fence=fence, actor=actor, message=message,
                now_ms=now_ms, venue_tran_id=venue_tran_id,
                venue_submitted_ms=venue_submitted_ms,
            )  # fmt: skip

    async def claimed_tran_ids(self, tran_ids: list[str]) -> set[str]:
        """Return which of the venue's ``tran_ids`` already belong to some transfer."""
        if not tran_ids:
            return set()
        rows = await self.db.fetch(
            "SELECT venue_tran_id FROM treasury_transfers WHERE venue_tran_id = ANY($1::text[])",
            tran_ids,
        )
        return {r["venue_tran_id"] for r in rows}

    async def events(self, transfer_id: str) -> list[EventRow]:
        """Return the transfer's events in order."""
        rows = await self.db.fetch(
            f"{_EVENTS_SELECT} WHERE e.transfer_id = $1 ORDER BY e.seq", transfer_id
        )
        return [EventRow(**dict(r)) for r in rows]

    async def emit_pending(
        self, emit: Callable[[list[EventRow]], Awaitable[None]], now_ms: int, *, batch: int = 100
    ) -> int:
        """Pass not-yet-emitted events to ``emit`` in order, then mark them; return the count.

        Rows are locked (SKIP LOCKED) while ``emit`` runs, so concurrent callers do not emit the
        same event twice; if ``emit`` raises, they stay unemitted for the next caller.
        """
        sent = 0
        while True:
            async with self.db.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"{_EVENTS_SELECT} WHERE e.emitted_ms IS NULL ORDER BY e.id LIMIT $1 "
                    "FOR UPDATE OF e SKIP LOCKED",
                    batch,
                )
                if not rows:
                    return sent
                events = [EventRow(**dict(r)) for r in rows]
                await emit(events)
                await conn.execute(
                    "UPDATE treasury_transfer_events SET emitted_ms = $1 "
                    "WHERE id = ANY($2::bigint[])",
                    now_ms,
                    [e.id for e in events],
                )
                sent += len(events)


_EVENTS_SELECT = (
    f"SELECT {', '.join('e.' + f for f in EventRow.__struct_fields__[:9])}, "
    "t.asset, t.amount, t.from_account, t.to_account "
    "FROM treasury_transfer_events e JOIN treasury_transfers t USING (transfer_id)"
)

__all__ = [
    "COUNTED_STATES",
    "STATES",
    "TERMINAL_STATES",
    "EventRow",
    "StaleTransition",
    "TransferRow",
    "TransferState",
    "TreasuryStore",
]
