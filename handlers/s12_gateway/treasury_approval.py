"""B8 step 2 (spec §A S12 item 3): operators file, approve and reject treasury transfers.

The API and the ``chimera treasury`` command both call ``TreasuryApprovals``. A request is born
PENDING_APPROVAL with ``requested_by`` = its operator (or S6's identity, ``s6-treasury``). An
approval must come from another operator (403 otherwise, nothing written; the table's CHECK is
the backstop); it records ``approved_by``/``approved_ms`` and hands the transfer to S1's
``TreasuryService``, which applies the whitelist and limits (over a limit: REJECTED) and runs it.
A rejection moves it to REJECTED. Transfers that end REJECTED, FAILED or UNKNOWN raise an alert.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

import msgspec

from chimera.alerts import add_alert
from chimera.config.treasury import Account, AssetCode
from chimera.http import BadRequest, Conflict, HttpError, ServiceBusy
from handlers.s1_connectors.treasury import AmountText, TransferId, TransferRequest
from handlers.s1_connectors.treasury_store import STATES, StaleTransition, TransferRow
from handlers.s12_gateway.treasury_requests import (
    TransferView,
    TreasuryRequests,
    amount_text,
    request_of,
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # S1's TransferId pattern
MAX_LIST = 500
Reason = Annotated[str, msgspec.Meta(max_length=500)]
_ALERTED = {"REJECTED": "TREASURY_REJECTED", "FAILED": "TREASURY_FAILED",
            "UNKNOWN": "TREASURY_UNKNOWN"}  # fmt: skip


class Forbidden(HttpError):
    """The operator may not do this (403), e.g. approve their own request."""

    status_code = 403


class NotFound(HttpError):
    """No such transfer (404)."""

    status_code = 404


class OperatorTransferRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /treasury/transfer`` body: ask for ``amount`` of ``asset`` to be moved."""

    transfer_id: TransferId
    asset: AssetCode
    amount: AmountText
    from_account: Account
    to_account: Account
    reason: Reason | None = None

    def __post_init__(self) -> None:
        if Decimal(self.amount) <= 0:
            raise ValueError("amount must be greater than 0 - at `$.amount`")
        if self.from_account == self.to_account:
            raise ValueError("to_account must differ from from_account - at `$.to_account`")

    def as_transfer(self, operator: str) -> TransferRequest:
        """Return S1's request for this body, requested by ``operator``."""
        return TransferRequest(
            transfer_id=self.transfer_id, asset=self.asset, amount=self.amount,
            from_account=self.from_account, to_account=self.to_account,
            requested_by=operator, reason=self.reason,
        )  # fmt: skip


class RejectRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /treasury/transfer/{id}/reject`` body (optional): why."""

    reason: Reason | None = None


class Outcome(msgspec.Struct, frozen=True):
    """What an operation did: the transfer as it now stands, and whether this call changed it."""

    view: TransferView
    changed: bool


def _checked(transfer_id: str) -> str:
    if not _ID.match(transfer_id):
        raise BadRequest(
            "invalid transfer_id",
            hint="1-64 characters: letters, digits and _ . : - (starting with a letter or digit)",
        )
    return transfer_id


def _same(row: TransferRow, req: TransferRequest) -> list[str]:
    pairs = {
        "asset": (row.asset, req.asset),
        "amount": (amount_text(row.amount), amount_text(req.quantity)),
        "from_account": (row.from_account, req.from_account),
        "to_account": (row.to_account, req.to_account),
        "requested_by": (row.requested_by, req.requested_by),
        "reason": (row.reason, req.reason),
    }
    return [f"{k} {old!r} vs {new!r}" for k, (old, new) in pairs.items() if old != new]


class TreasuryApprovals:
    """The operations behind ``/treasury/transfer`` and ``chimera treasury``."""

    def __init__(self, requests: TreasuryRequests) -> None:
        self.requests = requests
        self.service = requests.service

    async def show(self, transfer_id: str) -> TransferView:
        """Return the transfer ``transfer_id``; ``NotFound`` if there is none."""
        view = await self.requests.view(_checked(transfer_id))
        if view is None:
            raise NotFound(f"no treasury transfer {transfer_id!r}")
        return view

    async def listing(self, state: str | None = None, limit: int = 100) -> list[TransferView]:
        """Return up to ``limit`` transfers, newest first; only those in ``state`` if given."""
        if state is not None and state not in STATES:
            raise BadRequest(f"unknown state {state!r}", hint=f"one of {', '.join(STATES)}")
        if not 1 <= limit <= MAX_LIST:
            raise BadRequest(f"limit must be between 1 and {MAX_LIST}, got {limit}")
        return await self.requests.listing(state, limit)

    async def file(self, req: TransferRequest, *, message: str) -> Outcome:
        """File ``req`` as PENDING_APPROVAL; a repeat of the same request returns the stored one.

        ``Conflict`` if its transfer_id was used for a different transfer.
        """
        async with self.requests.route_lock(req.from_account, req.to_account) as token:
            existing = await self.service.store.get(req.transfer_id)
            created = None
            if existing is None:
                created = await self.requests.file_locked(req, token, message=message)
                existing = created or await self.service.store.get(req.transfer_id)
        await self.service.emit_audit()
        assert existing is not None
        diffs = _same(existing, req)
        if diffs:
            raise Conflict(
                f"transfer_id {req.transfer_id} was already used for a different transfer: "
                + "; ".join(diffs),
                hint="use a new transfer_id for a new request",
            )
        return Outcome(await self.show(req.transfer_id), changed=created is not None)

    async def request(self, operator: str, body: OperatorTransferRequest) -> Outcome:
        """File ``operator``'s request; it waits for another operator's approval."""
        return await self.file(
            body.as_transfer(operator),
            message=f"waiting for approval by an operator other than {operator}",
        )

    async def approve(self, operator: str, transfer_id: str) -> Outcome:
        """Approve as ``operator`` and have S1 run the transfer; return where it got to.

        403 for the requester themself; 409 when the request is not awaiting approval (a repeat
        by the operator who approved it resumes S1's execution instead). If S1 cannot run it
        now (route busy, venue unreachable) the approval stands and the transfer waits, approved,
        in PENDING_APPROVAL or PENDING: S6's tick or a repeated approval resumes it.
        """
        row = await self._row(transfer_id)
        if row.requested_by == operator:
            raise Forbidden(
                f"operator {operator} requested transfer {transfer_id} and cannot approve it",
                hint="a different operator must approve it (or reject it to withdraw it)",
            )
        changed = False
        if row.approved_by is None:
            self._require_awaiting(row, "approved")
            async with self.requests.route_lock(row.from_account, row.to_account) as token:
                approved = await self.requests.approve_locked(row, operator, token)
            await self.service.emit_audit()
            if approved is None:
                current = await self._row(transfer_id)
                self._require_awaiting(current, "approved")
                raise Conflict(f"transfer {transfer_id} was approved by {current.approved_by}")
            row, changed = approved, True
        elif row.approved_by != operator:
            raise Conflict(
                f"transfer {transfer_id} was already approved by {row.approved_by} "
                f"and is {row.state}"
            )
        if row.state not in ("SUCCEEDED", "FAILED", "REJECTED"):
            await self.execute(request_of(row))
        return Outcome(await self.show(transfer_id), changed)

    async def reject(self, operator: str, transfer_id: str, reason: str | None) -> Outcome:
        """Reject a request awaiting approval (its requester may withdraw it this way)."""
        row = await self._row(transfer_id)
        self._require_awaiting(row, "rejected")
        async with self.requests.route_lock(row.from_account, row.to_account) as token:
            current = await self._row(transfer_id)
            self._require_awaiting(current, "rejected")
            try:
                await self.requests.reject_locked(current, operator, token, reason)
            except StaleTransition as exc:
                raise Conflict(f"transfer {transfer_id} changed meanwhile; read it again") from exc
        await self.service.emit_audit()
        return Outcome(await self.show(transfer_id), changed=True)

    async def execute(self, req: TransferRequest) -> TransferRow | None:
        """Have S1 run (or resume) a transfer; alert when it ends REJECTED, FAILED or UNKNOWN.

        Return its row, or None when S1 could not run it now (route busy, venue unreachable,
        moved on meanwhile): the transfer is then left as it was for the next try.
        """
        try:
            done = await self.service.transfer(req)
        except (ServiceBusy, StaleTransition):
            return None
        kind = _ALERTED.get(done.state)
        if kind is not None:
            await add_alert(
                self.requests.db, f"treasury:{done.transfer_id}:{done.state}", "WARN", kind,
                symbol=None, ref_id=done.transfer_id,
                body={"transfer_id": done.transfer_id, "asset": done.asset,
                      "amount": amount_text(done.amount), "route":
                      f"{done.from_account}->{done.to_account}", "message": done.message},
                ts_ms=self.requests.clock_ms(),
            )  # fmt: skip
        return done

    async def _row(self, transfer_id: str) -> TransferRow:
        row = await self.service.store.get(_checked(transfer_id))
        if row is None:
            raise NotFound(f"no treasury transfer {transfer_id!r}")
        return row

    @staticmethod
    def _require_awaiting(row: TransferRow, verb: str) -> None:
        if row.state != "PENDING_APPROVAL":
            raise Conflict(
                f"transfer {row.transfer_id} is {row.state}; only a request awaiting approval "
                f"can be {verb}"
            )
        if row.approved_by is not None:
            raise Conflict(
                f"transfer {row.transfer_id} was already approved by {row.approved_by}; "
                f"it can no longer be {verb}"
            )


__all__ = [
    "Forbidden",
    "NotFound",
    "OperatorTransferRequest",
    "Outcome",
    "RejectRequest",
    "TreasuryApprovals",
]
