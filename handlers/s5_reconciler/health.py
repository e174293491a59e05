"""S5's health-degrade signal (spec §A S5 "when severe ... a health-degrade signal", B9).

A run is severe when the agreement of the open orders (with the orders S4 was routing while the
run looked set aside) is below ``reconcile.jaccard_alert_below``, any position mismatched (but
one deferred because orders were in flight), or a position is left unprotected.
Severe raises ``prod:{health}:system:state`` to ORANGE (RED when a position could not be
protected) for ``reconcile.health_ttl_ms`` — unless the grade there is already worse, or is the
same grade without a TTL (someone else's standing grade, which S5 does not take over). A later
severe run renews the TTL; a clean run leaves the key to expire. Every run also XADDs
``s5.recon_severity`` (the grade's rank, 0 = GREEN ... 3 = RED) on ``metrics:events``. S11
will own the composition of the health grade; until then this is the only writer besides
operators.
"""

from __future__ import annotations

from chimera import names
from chimera.domain.metrics import MetricEvent
from chimera.prod_state import HEALTH_GRADES, parse_health
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient
from handlers.s5_reconciler.report import Grade, ReconcileReport

SEVERITY_METRIC = "s5.recon_severity"
_RANK: dict[str, int] = {grade: rank for rank, grade in enumerate(HEALTH_GRADES)}
# Write only if the value is still the one the decision was made on.
_SET_IF_UNCHANGED = """
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def severity(report: ReconcileReport, threshold: float) -> Grade:
    """Return the grade a run asks for: RED, ORANGE or GREEN."""
    positions = report.positions
    if positions is not None and positions.unprotected:
        return "RED"
    if report.settled_jaccard < threshold:
        return "ORANGE"
    if positions is not None and positions.settled_jaccard < 1.0:
        return "ORANGE"  # any position mismatch but those deferred (orders in flight)
    return "GREEN"


async def degrade(redis: RedisClient, grade: Grade, ttl_ms: int) -> bool:
    """Raise the health grade to ``grade`` for ``ttl_ms``; return whether it was written."""
    if grade == "GREEN":
        return False
    pipe = redis.pipeline(transaction=False)
    pipe.get(names.HEALTH_STATE)
    pipe.pttl(names.HEALTH_STATE)
    raw, pttl = await pipe.execute()
    current = parse_health(raw)
    if _RANK[current] > _RANK[grade]:
        return False
    if raw is not None and _RANK[current] == _RANK[grade] and int(pttl) < 0:
        return False
    written = await redis.eval(
        _SET_IF_UNCHANGED, 1, names.HEALTH_STATE, raw or b"", grade, str(ttl_ms)
    )
    return bool(written)


async def publish_severity(redis: RedisClient, report: ReconcileReport) -> None:
    """XADD the run's ``s5.recon_severity`` on ``metrics:events``."""
    event = MetricEvent(
        SEVERITY_METRIC,
        float(_RANK[report.severity]),
        report.ts_ms,
        {"grade": report.severity, "scope": report.scope},
    )
    await redis.xadd(names.METRICS_EVENTS, entry_fields(event))  # type: ignore[arg-type]


__all__ = ["SEVERITY_METRIC", "degrade", "publish_severity", "severity"]
