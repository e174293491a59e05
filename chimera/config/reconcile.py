"""The ``reconcile:`` section of a config bundle: S5's reconciler policy (spec §A S5, flow B4).

Every field has a default, so a bundle without a ``reconcile:`` section reconciles as documented
in docs/s5-reconciler.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from chimera.domain.orders import Market

OrphanPolicy = Literal["cancel", "adopt", "alert"]


class ReconcileConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What S5 compares and what it does about an open order only the venue knows."""

    # An open order at the venue that no ``orders`` row knows: cancel it (default), adopt it
    # (leave it open, record it), or only alert.
    orphans: OrphanPolicy = "cancel"
    # Agreement (Jaccard of the open client order ids) below this raises a CRITICAL alert.
    jaccard_alert_below: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.8
    # The markets whose open orders are compared.
    markets: tuple[Market, ...] = ("FUT", "SPOT")
    # At most this many DB rows are resolved from the venue in one run (the rest wait).
    max_resolve: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200


__all__ = ["OrphanPolicy", "ReconcileConfig"]
