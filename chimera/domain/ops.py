"""Entries on ``ops:events``: the operations audit trail (one tagged Struct per kind of change).

Later stages add kinds (approvals, kill-switch changes, reconcile repairs) to ``OpsEvent``; a
consumer decodes the union and dispatches on ``kind``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class TreasuryTransferAudit(msgspec.Struct, frozen=True, tag="treasury_transfer", tag_field="kind"):
    """One state change of a treasury transfer."""

    transfer_id: str
    seq: int
    from_state: str | None
    to_state: str
    asset: str
    amount: Decimal
    from_account: str
    to_account: str
    actor: str
    message: str
    venue_tran_id: str | None
    at_ms: int


OpsEvent = TreasuryTransferAudit
"""The payload type of ``ops:events`` (a tagged union once there is more than one kind)."""
