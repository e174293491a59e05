"""S5's ``strategy_events`` kinds; its ``alerts`` rows go through ``chimera.alerts``."""

from __future__ import annotations

from chimera.alerts import Severity, add_alert

RUN_KIND = "RECONCILE_RUN"
ORPHAN_KIND = "RECONCILE_ORPHAN"
RESOLVED_KIND = "RECONCILE_RESOLVED"
DISAGREEMENT_KIND = "RECONCILE_DISAGREEMENT"
POSITION_KIND = "RECONCILE_POSITION"
PROTECT_KIND = "RECONCILE_PROTECT"

__all__ = [
    "DISAGREEMENT_KIND",
    "ORPHAN_KIND",
    "POSITION_KIND",
    "PROTECT_KIND",
    "RESOLVED_KIND",
    "RUN_KIND",
    "Severity",
    "add_alert",
]
