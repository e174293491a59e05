"""S6's automatic treasury transfer (spec §A S6 item 2, flow B8 step 1): the scheduled check.

Each tick of ``s6-treasury`` (``treasury_tick``), with ``treasury.auto.mode`` not ``off``:

1. An open request on SPOT -> FUTURES for the asset (PENDING_APPROVAL, PENDING, SUBMITTED,
   UNKNOWN, whoever filed it) means no new one. Those already approved (or automatic) are
   handed to S1 again, which resumes them (an UNKNOWN is looked up at the venue); those
   awaiting an operator are left to the operator — except the check's own that waited
   ``approval_ttl_ms`` (4 h): REJECTED as expired (actor ``s6-treasury``), so a stale need is
   never approved late and a fresh request can be filed.
2. Otherwise read the free balances and compute ``need = max(0, min_free_fut - free_fut)``,
   rounded up to ``amount_step``. Nothing needed: done.
3. Spot's free balance beyond ``spot_reserve`` does not cover it: a WARN alert
   (``TREASURY_SPOT_SHORT``, one per window: its id names the window), nothing else.
4. Else one request, ``transfer_id = s6-<asset>-SPOT-FUTURES-<window start ms>``, so a rerun
   in the same window finds it instead of filing another: ``manual`` files it PENDING_APPROVAL
   under ``lock:{treasury}:SPOT:FUTURES`` (requested_by ``s6-treasury``) for an operator to
   approve through S12; ``auto`` hands it to S1's ``TreasuryService`` at once, which creates it
   under the same lock and applies the whitelist and limits (over a limit: REJECTED + alert).

Every state change is a ``treasury_transfer_events`` row and an ``ops:events`` entry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

import msgspec

from chimera.alerts import add_alert
from chimera.config.bundle import ConfigBundle
from chimera.config.treasury import Account, TreasuryAuto, TreasuryPolicy
from chimera_workers.context import Context
from chimera_workers.errors import ConfigError
from handlers.s1_connectors.treasury import TransferRequest, TreasuryService
from handlers.s1_connectors.treasury_store import TransferRow, TreasuryStore
from handlers.s1_connectors.treasury_venue import CcxtVenue
from handlers.s4_router.runtime import runtime_of
from handlers.s6_positions.treasury_balances import FreeBalances, read_free
from handlers.s12_gateway.treasury_approval import TreasuryApprovals
from handlers.s12_gateway.treasury_requests import TreasuryRequests, amount_text, request_of

SYSTEM_IDENTITY = "s6-treasury"
FROM_ACCOUNT: Account = "SPOT"
TO_ACCOUNT: Account = "FUTURES"

log = logging.getLogger(__name__)

Action = Literal["off", "resumed", "waiting", "enough", "short", "already", "requested"]


class CheckResult(msgspec.Struct, frozen=True):
    """What one tick did."""

    action: Action
    need: Decimal = Decimal(0)
    transfer_id: str | None = None
    state: str | None = None
    detail: str = ""


def _awaiting_operator(row: TransferRow) -> bool:
    return (
        row.state == "PENDING_APPROVAL"
        and row.approved_by is None
        and row.requested_by == SYSTEM_IDENTITY
    )


def _duration(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("min", 60_000)):
        if ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{Decimal(ms) / 1000} s"


def compute_need(auto: TreasuryAuto, free_futures: Decimal) -> Decimal:
    """Return ``max(0, min_free_fut - free_fut)`` rounded up to a multiple of ``amount_step``."""
    short = auto.min_free_fut - free_futures
    if short <= 0:
        return Decimal(0)
    steps = (short / auto.amount_step).to_integral_value(rounding=ROUND_CEILING)
    return (steps * auto.amount_step).normalize()


def window_start(auto: TreasuryAuto, now_ms: int) -> int:
    """Return the start of the request window ``now_ms`` falls in."""
    return now_ms - now_ms % auto.window_ms


def transfer_id_for(auto: TreasuryAuto, now_ms: int) -> str:
    """Return the window's deterministic transfer_id (at most one request per window)."""
    return f"s6-{auto.asset}-{FROM_ACCOUNT}-{TO_ACCOUNT}-{window_start(auto, now_ms)}"


class TreasuryCheck:
    """One run of the check on a venue's balances, through S12's request and S1's execution."""

    def __init__(
        self,
        approvals: TreasuryApprovals,
        auto: TreasuryAuto,
        read_balances: Callable[[], Awaitable[FreeBalances]],
    ) -> None:
        self.approvals = approvals
        self.requests = approvals.requests
        self.auto = auto
        self.read_balances = read_balances

    async def run(self) -> CheckResult:
        """Run the check once (see the module docstring)."""
        auto = self.auto
        if auto.mode == "off":
            return CheckResult("off")
        waiting = await self._open()
        if waiting is not None:
            return waiting
        balances = await self.read_balances()
        need = compute_need(auto, balances.futures)
        if need == 0:
            return CheckResult("enough", detail=f"free futures {balances.futures}")
        now = self.requests.clock_ms()
        if balances.spot - auto.spot_reserve < need:
            return await self._short(balances, need, now)
        transfer_id = transfer_id_for(auto, now)
        existing = await self.approvals.service.store.get(transfer_id)
        if existing is not None:
            return CheckResult(
                "already", need, transfer_id, existing.state,
                "this window's request was already made; the next window may make another",
            )  # fmt: skip
        req = TransferRequest(
            transfer_id=transfer_id, asset=auto.asset, amount=amount_text(need),
            from_account=FROM_ACCOUNT, to_account=TO_ACCOUNT, requested_by=SYSTEM_IDENTITY,
            reason=(
                f"free futures {amount_text(balances.futures)} {auto.asset} below the minimum "
                f"{amount_text(auto.min_free_fut)}"
            ),
        )  # fmt: skip
        if auto.mode == "manual":
            return await self._file(req, need)
        row = await self.approvals.execute(req)
        return CheckResult(
            "requested", need, transfer_id, None if row is None else row.state,
            "S1 was busy; the next tick resumes it" if row is None else row.message,
        )  # fmt: skip

    async def _open(self) -> CheckResult | None:
        rows = await self.requests.open_on_route(self.auto.asset, FROM_ACCOUNT, TO_ACCOUNT)
        rows = await self._expire_unapproved(rows)
        if not rows:
            return None
        resumed = [r for r in rows if r.state != "PENDING_APPROVAL" or r.approved_by is not None]
        for row in resumed:
            await self.approvals.execute(request_of(row))
        first = rows[0]
        return CheckResult(
            "resumed" if resumed else "waiting", Decimal(0), first.transfer_id, first.state,
            f"{len(rows)} open request(s) on {FROM_ACCOUNT}->{TO_ACCOUNT}; no new one",
        )  # fmt: skip

    async def _expire_unapproved(self, rows: list[TransferRow]) -> list[TransferRow]:
        """REJECT this check's own requests no operator approved within ``approval_ttl_ms``."""
        ttl = self.auto.approval_ttl_ms
        now = self.requests.clock_ms()
        stale = [r for r in rows if _awaiting_operator(r) and now - r.created_ms >= ttl]
        if not stale:
            return rows
        expired = set()
        reason = f"expired: not approved within {_duration(ttl)}"
        async with self.requests.route_lock(FROM_ACCOUNT, TO_ACCOUNT) as token:
            for row in stale:
                # Re-read under the lock: an operator may have approved it since the first look.
                current = await self.approvals.service.store.get(row.transfer_id)
                if current is not None and _awaiting_operator(current):
                    await self.requests.reject_locked(current, SYSTEM_IDENTITY, token, reason)
                    expired.add(row.transfer_id)
        await self.approvals.service.emit_audit()
        return [r for r in rows if r.transfer_id not in expired]

    async def _file(self, req: TransferRequest, need: Decimal) -> CheckResult:
        message = f"waiting for an operator's approval (requested by {SYSTEM_IDENTITY})"
        async with self.requests.route_lock(FROM_ACCOUNT, TO_ACCOUNT) as token:
            # Re-checked under the lock: an operator may have filed one since the first look.
            if await self.requests.open_on_route(req.asset, FROM_ACCOUNT, TO_ACCOUNT):
                row = None
                detail = "another request was filed meanwhile"
            else:
                row = await self.requests.file_locked(req, token, message=message)
                detail = message
        await self.approvals.service.emit_audit()
        return CheckResult(
            "requested" if row is not None else "waiting", need, req.transfer_id,
            None if row is None else row.state, detail,
        )  # fmt: skip

    async def _short(self, balances: FreeBalances, need: Decimal, now: int) -> CheckResult:
        auto = self.auto
        window = window_start(auto, now)
        detail = (
            f"futures need {amount_text(need)} {auto.asset} but spot has only "
            f"{amount_text(balances.spot)} free ({amount_text(auto.spot_reserve)} reserved)"
        )
        await add_alert(
            self.requests.db, f"treasury:spot-short:{auto.asset}:{window}", "WARN",
            "TREASURY_SPOT_SHORT", symbol=None, ref_id=None,
            body={"asset": auto.asset, "need": amount_text(need),
                  "spot_free": amount_text(balances.spot),
                  "spot_reserve": amount_text(auto.spot_reserve),
                  "futures_free": amount_text(balances.futures),
                  "min_free_fut": amount_text(auto.min_free_fut), "message": detail},
            ts_ms=now,
        )  # fmt: skip
        return CheckResult("short", need, detail=detail)


def treasury_policy(config: Any) -> TreasuryPolicy:
    """Return the ``treasury:`` section of the worker's config (defaults: the check is off)."""
    if isinstance(config, ConfigBundle):
        return config.treasury
    if isinstance(config, TreasuryPolicy):
        return config
    return TreasuryPolicy()


async def treasury_tick(ctx: Context) -> None:
    """Run the treasury check once on the worker's venues (the ``s4_router`` resource)."""
    policy = treasury_policy(ctx.config)
    if policy.auto.mode == "off":
        return
    if ctx.db is None:
        raise ConfigError("the treasury check needs PostgreSQL", hint="give the worker a DB URL")
    venues = runtime_of(ctx.resources.extra).venues
    spot = await venues.exchange("SPOT")
    futures = await venues.exchange("FUT")
    service = TreasuryService(
        store=TreasuryStore(ctx.db), redis=ctx.redis, venue=CcxtVenue(spot), policy=policy
    )
    check = TreasuryCheck(
        TreasuryApprovals(TreasuryRequests(service)),
        policy.auto,
        lambda: read_free(spot, futures, policy.auto.asset),
    )
    result = await check.run()
    log.info("treasury check: %s %s", result.action, result.detail)


__all__ = [
    "SYSTEM_IDENTITY",
    "CheckResult",
    "TreasuryCheck",
    "compute_need",
    "transfer_id_for",
    "treasury_policy",
    "treasury_tick",
]
