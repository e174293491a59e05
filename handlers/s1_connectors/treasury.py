"""S1's treasury transfer (spec S1 item 2): limits, idempotency, lock, state machine, venue call.

One ``transfer_id`` moves money at most once, whatever the retries:

1. A stored transfer with the same id is returned as it is (a different body for the same id
   is a 409). Terminal states (SUCCEEDED, FAILED, REJECTED) return without touching the venue.
2. Otherwise ``lock:{treasury}:<from>:<to>`` is taken (TTL, fencing token; every write carries
   the token so a holder whose lock expired cannot overwrite a newer one).
3. A new transfer is checked against the ``TreasuryPolicy`` (whitelist, per-transfer max, daily
   max per asset, all under a per-asset PostgreSQL advisory lock) and stored as PENDING, or as
   REJECTED with the reason.
4. PENDING -> SUBMITTED (with the venue's clock) -> the venue call -> SUCCEEDED | FAILED |
   UNKNOWN (no clear answer: timeout, 5xx, 429, dropped connection).
5. A retry of an UNKNOWN (or of a SUBMITTED one whose process died) first looks the transfer up
   at the venue: Binance's transfer history has no client id, so a venue transfer matches when
   its asset, route and exact amount agree, it is no older than the submission minus
   ``lookup_skew_ms``, and no other transfer_id has claimed its tranId (a UNIQUE column). One
   match: adopted (SUCCEEDED, or FAILED if the venue says so). Several: stays UNKNOWN for an
   operator. None: re-submitted only once ``resubmit_after_ms`` has passed on the venue clock
   since the submission (past the request's recvWindow, so a delayed request can no longer
   land); before that it stays UNKNOWN. Never a second transfer while the first may exist.

Every state change is a ``treasury_transfer_events`` row and a ``TreasuryTransferAudit`` on
``ops:events``. B8's approval fits in front: a row created as PENDING_APPROVAL (by S6) runs here
only once ``approved_by`` (a different operator, enforced by the table) is set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

import msgspec

from chimera.config.treasury import Account, AssetCode, TreasuryPolicy
from chimera.domain.ops import TreasuryTransferAudit
from chimera.http.errors import Conflict, ServiceBusy
from chimera.names import OPS_EVENTS, treasury_lock
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from chimera_workers.locks import FencedLock
from handlers.s1_connectors.treasury_store import (
    TERMINAL_STATES,
    EventRow,
    TransferRow,
    TreasuryStore,
)
from handlers.s1_connectors.treasury_venue import (
    TransferOutcomeUnknown,
    TransferRejected,
    TreasuryVenue,
)

ACTOR = "s1_connectors"
DAY_MS = 86_400_000

TransferId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
# A positive decimal with at most 8 places, as a string (never a JSON float).
AmountText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}(\.[0-9]{1,8})?$")]
Operator = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$")]


class TransferRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /xchg/treasury/transfer`` body: move ``amount`` of ``asset`` between wallets."""

    transfer_id: TransferId
    asset: AssetCode
    amount: AmountText
    from_account: Account
    to_account: Account
    requested_by: Operator
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None

    def __post_init__(self) -> None:
        if Decimal(self.amount) <= 0:
            raise ValueError("amount must be greater than 0 - at `$.amount`")
        if self.from_account == self.to_account:
            raise ValueError("to_account must differ from from_account - at `$.to_account`")

    @property
    def quantity(self) -> Decimal:
        """Return the amount as a Decimal."""
        return Decimal(self.amount)


class TransferResponse(msgspec.Struct, frozen=True):
    """The spec's ``TransferResponse``: the transfer's id, its state, and a human message.

    ``Result`` is SUCCEEDED, FAILED, REJECTED (refused by policy), UNKNOWN (retry the same
    transfer_id to resolve it) or, for B8, PENDING_APPROVAL.
    """

    TransferID: str
    Result: str
    Message: str


def response_of(row: TransferRow) -> TransferResponse:
    """Return the response a stored transfer gives."""
    return TransferResponse(TransferID=row.transfer_id, Result=row.state, Message=row.message)


def audit_of(event: EventRow) -> TreasuryTransferAudit:
    """Return the ``ops:events`` entry of a stored event."""
    return TreasuryTransferAudit(
        transfer_id=event.transfer_id, seq=event.seq, from_state=event.from_state,
        to_state=event.to_state, asset=event.asset, amount=event.amount,
        from_account=event.from_account, to_account=event.to_account, actor=event.actor,
        message=event.message, venue_tran_id=event.venue_tran_id, at_ms=event.at_ms,
    )  # fmt: skip


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _show(value: Decimal) -> str:
    """Return ``value`` without trailing zeros or an exponent (1400.00000000 -> 1400)."""
    return format(value.normalize(), "f")


def _differences(row: TransferRow, req: TransferRequest) -> list[str]:
    pairs: dict[str, tuple[object, object]] = {
        "asset": (row.asset, req.asset),
        "amount": (_show(row.amount), _show(req.quantity)),
        "from_account": (row.from_account, req.from_account),
        "to_account": (row.to_account, req.to_account),
        "requested_by": (row.requested_by, req.requested_by),
        "reason": (row.reason, req.reason),
    }
    return [f"{k} {old!r} vs {new!r}" for k, (old, new) in pairs.items() if old != new]


class TreasuryService:
    """Executes treasury transfers exactly once per transfer_id."""

    def __init__(
        self,
        *,
        store: TreasuryStore,
        redis: RedisClient,
        venue: TreasuryVenue,
        policy: TreasuryPolicy,
        clock_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.store = store
        self.redis = redis
        self.venue = venue
        self.policy = policy
        self.clock_ms = clock_ms

    async def transfer(self, req: TransferRequest) -> TransferRow:
        """Run (or resume, or replay) the transfer ``req``; return its row as it now stands."""
        row = await self.store.get(req.transfer_id)
        if row is not None:
            self._check_same(row, req)
            if row.state in TERMINAL_STATES:
                await self.emit_audit()  # sends what an earlier failed emission left behind
                return row
        lock = FencedLock(
            self.redis,
            treasury_lock(req.from_account, req.to_account),
            ttl_ms=self.policy.lock_ttl_ms,
        )
        token = await self._acquire(lock, req)
        try:
            return await self._run_locked(req, token)
        finally:
            await lock.release(token)
            await self.emit_audit()

    async def emit_audit(self) -> int:
        """Send every not-yet-emitted state change to ``ops:events``; return how many."""

        async def emit(events: list[EventRow]) -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.xadd(OPS_EVENTS, entry_fields(audit_of(event)))  # type: ignore[arg-type]
                await pipe.execute()

        return await self.store.emit_pending(emit, self.clock_ms())

    # --- steps ----------------------------------------------------------------------------------

    async def _acquire(self, lock: FencedLock, req: TransferRequest) -> int:
        deadline = time.monotonic() + self.policy.lock_wait_ms / 1000
        while True:
            token = await lock.acquire()
            if token is not None:
                return token
            if time.monotonic() >= deadline:
                raise ServiceBusy(
                    f"another transfer on {req.from_account}->{req.to_account} is in progress",
                    hint="retry the same request shortly",
                )
            await asyncio.sleep(0.05)

    async def _run_locked(self, req: TransferRequest, token: int) -> TransferRow:
        row = await self.store.get(req.transfer_id)
        if row is None:
            row = await self._create(req, token)
        else:
            self._check_same(row, req)
        if row.state == "PENDING_APPROVAL":
            if row.approved_by is None:
                return row
            row = await self._admit(row, token)
        if row.state in TERMINAL_STATES:
            return row
        if row.state == "SUBMITTED":
            # Only a process that died (or a client that went away) mid-call leaves this.
            row = await self._move(
                row, "UNKNOWN", token,
                "an earlier attempt ended without the venue's answer; looking it up",
            )  # fmt: skip
        if row.state == "UNKNOWN":
            row, resubmit = await self._resolve(row, token)
            if not resubmit:
                return row
        return await self._submit(row, token)

    def _refusal(self, req: TransferRequest | TransferRow, daily_total: Decimal) -> str | None:
        asset, amount = req.asset, Decimal(req.amount).normalize()
        used = _show(daily_total)
        if not self.policy.allows(asset, req.from_account, req.to_account):
            allowed = ", ".join(
                f"{r.asset} {r.from_account}->{r.to_account}" for r in self.policy.routes
            )
            return (
                f"route {asset} {req.from_account}->{req.to_account} is not whitelisted "
                f"(allowed: {allowed or 'none'})"
            )
        per_transfer = self.policy.per_transfer_max.get(asset)
        daily = self.policy.daily_max.get(asset)
        if per_transfer is None or daily is None:
            return f"no per-transfer and daily limits are configured for {asset}"
        if amount > per_transfer:
            return (
                f"amount {_show(amount)} {asset} exceeds the per-transfer limit of "
                f"{_show(per_transfer)} {asset}"
            )
        if daily_total + amount > daily:
            return (
                f"amount {_show(amount)} {asset} would bring today's {asset} transfers to "
                f"{_show(daily_total + amount)}, over the daily limit of {_show(daily)} {asset} "
                f"({used} already used)"
            )
        return None

    async def _create(self, req: TransferRequest, token: int) -> TransferRow:
        now = self.clock_ms()
        async with self.store.asset_transaction(req.asset) as conn:
            total = await self.store.daily_total(
                conn, req.asset, now - now % DAY_MS, excluding=req.transfer_id
            )
            refusal = self._refusal(req, total)
            row = TransferRow(
                transfer_id=req.transfer_id, asset=req.asset, amount=req.quantity,
                from_account=req.from_account, to_account=req.to_account,
                state="REJECTED" if refusal else "PENDING", requested_by=req.requested_by,
                approved_by=None, reason=req.reason,
                message=f"refused: {refusal}" if refusal else "accepted; not yet submitted",
                venue_tran_id=None, venue_submitted_ms=None, submit_count=0, fence=token,
                created_ms=now, updated_ms=now,
            )  # fmt: skip
            inserted = await self.store.insert(conn, row, actor=req.requested_by)
        if inserted is not None:
            return inserted
        # The same id arrived concurrently on another route's lock; the stored one wins.
        existing = await self.store.get(req.transfer_id)
        assert existing is not None
        self._check_same(existing, req)
        return existing

    async def _admit(self, row: TransferRow, token: int) -> TransferRow:
        now = self.clock_ms()
        async with self.store.asset_transaction(row.asset) as conn:
            total = await self.store.daily_total(
                conn, row.asset, row.created_ms - row.created_ms % DAY_MS,
                excluding=row.transfer_id,
            )  # fmt: skip
            refusal = self._refusal(row, total)
            return await self.store.transition_in(
                conn, row.transfer_id, row.state, "REJECTED" if refusal else "PENDING",
                fence=token, actor=ACTOR, now_ms=now,
                message=f"refused: {refusal}" if refusal else f"approved by {row.approved_by}",
            )  # fmt: skip

    async def _submit(self, row: TransferRow, token: int) -> TransferRow:
        try:
            venue_now = await self.venue.now_ms()
        except TransferOutcomeUnknown as exc:
            # Nothing was sent: the row keeps its state and the same request may be retried.
            raise ServiceBusy(
                f"the venue is unreachable ({exc}); transfer {row.transfer_id} was not sent",
                hint="retry the same request",
                retry_after_s=2,
            ) from exc
        row = await self._move(
            row, "SUBMITTED", token, "submitted to the venue", venue_submitted_ms=venue_now
        )
        try:
            tran_id = await self.venue.submit(
                row.asset,
                row.amount,
                row.from_account,
                row.to_account,
            )
        except TransferRejected as exc:
            return await self._move(row, "FAILED", token, f"the venue refused: {exc}")
        except TransferOutcomeUnknown as exc:
            return await self._move(
                row, "UNKNOWN", token,
                f"no clear answer from the venue ({exc}); "
                "retry with the same transfer_id to resolve it",
            )  # fmt: skip
        return await self._move(
            row, "SUCCEEDED", token, f"transferred (venue tranId {tran_id})", venue_tran_id=tran_id
        )

    async def _resolve(self, row: TransferRow, token: int) -> tuple[TransferRow, bool]:
        """Find an UNKNOWN transfer at the venue; return the row and whether to re-submit."""
        submitted = row.venue_submitted_ms if row.venue_submitted_ms is not None else 0
        try:
            listed = await self.venue.transfers_since(
                row.asset, row.from_account, row.to_account,
                max(0, submitted - self.policy.lookup_skew_ms),
            )  # fmt: skip
            venue_now = await self.venue.now_ms()
        except TransferOutcomeUnknown as exc:
            return self._still_unknown(row, f"the venue lookup failed ({exc})"), False
        matching = [t for t in listed if t.asset == row.asset and t.amount == row.amount]
        claimed = await self.store.claimed_tran_ids([t.tran_id for t in matching])
        candidates = [t for t in matching if t.tran_id not in claimed]
        if len(candidates) > 1:
            ids = ", ".join(t.tran_id for t in candidates)
            return self._still_unknown(
                row, f"several venue transfers match ({ids}); an operator must decide"
            ), False
        if len(candidates) == 1:
            found = candidates[0]
            if found.status == "CONFIRMED":
                return await self._move(
                    row, "SUCCEEDED", token, f"found at the venue (tranId {found.tran_id})",
                    venue_tran_id=found.tran_id,
                ), False  # fmt: skip
            if found.status == "FAILED":
                return await self._move(
                    row, "FAILED", token, f"the venue lists it as FAILED (tranId {found.tran_id})",
                    venue_tran_id=found.tran_id,
                ), False  # fmt: skip
            return self._still_unknown(
                row, f"the venue lists it as {found.status} (tranId {found.tran_id})"
            ), False
        wait = submitted + self.policy.resubmit_after_ms - venue_now
        if wait > 0:
            return self._still_unknown(
                row, f"not listed at the venue yet; it can be re-sent safely in {wait} ms"
            ), False
        return row, True

    @staticmethod
    def _still_unknown(row: TransferRow, why: str) -> TransferRow:
        # Not a state change, so not stored: the caller is told why it is still UNKNOWN.
        return msgspec.structs.replace(
            row, message=f"outcome still unknown: {why}; retry with the same transfer_id"
        )

    async def _move(
        self, row: TransferRow, new: str, token: int, message: str, **extra: str | int
    ) -> TransferRow:
        return await self.store.transition(
            row.transfer_id, row.state, new, fence=token, actor=ACTOR, message=message,
            now_ms=self.clock_ms(), **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    @staticmethod
    def _check_same(row: TransferRow, req: TransferRequest) -> None:
        diffs = _differences(row, req)
        if diffs:
            raise Conflict(
                f"transfer_id {row.transfer_id} was already used for a different transfer: "
                + "; ".join(diffs),
                hint="use a new transfer_id for a new transfer",
            )


__all__ = [
    "TransferRequest",
    "TransferResponse",
    "TreasuryService",
    "TreasuryTransferAudit",
    "audit_of",
    "response_of",
]
