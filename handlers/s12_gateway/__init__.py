"""S12 — Web UI / API Gateway (spec §A S12); this stage: treasury approvals.

Operators are identified by a bearer token mapped to a name (``operators``); they file,
approve, reject and read treasury transfer requests over HTTP (``api``) or the ``chimera
treasury`` command (``cli``), both on the same ``TreasuryApprovals`` service
(``treasury_approval``), which hands approved transfers to S1's ``TreasuryService``. See
docs/treasury.md.
"""
