"""B7: the risk budget and per-symbol concurrency an entry reserves, atomically and idempotently.

One Lua script (``chimera_workers.budget``) checks and takes both the entry's margin from
``risk:{budget}:fut_margin:inuse`` (cap: ``risk.fut_margin_cap_usdt``) and one unit of
``risk:{budget}:concurrency:<symbol>`` (cap: ``risk.max_concurrent_per_symbol``). The
reservation id is the ``signal_id``: deciding a signal again returns the first outcome.
S6/S5 give both back with ``release`` when the position closes.

Amounts are integer cents of USDT (``MARGIN_UNIT``), rounded up, because the script compares
integers; ``risk:{budget}:fut_margin:inuse`` therefore holds cents.

The spec names the concurrency counter ``risk:{concurrency}:<symbol>``, whose hash tag differs
from ``{budget}``; one script cannot touch both on a Cluster. The atomic counter lives under
``{budget}``, and its value is copied to the spec's name after each change for observability
(docs/decisions.md).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from chimera import names
from chimera.config.risk import RiskConfig
from chimera_workers.budget import BudgetLedger, Reservation
from chimera_workers.connections import RedisClient

MARGIN_UNIT = Decimal("0.01")
"""One unit of ``risk:{budget}:fut_margin:inuse``: a USDT cent."""


# Add-ons are capped per position by S6's config, not by a per-symbol slot.
_ADD_ON_SLOT_CAP = 1_000_000
_UNCAPPED = 2**53 - 1  # the ledger's largest amount (Lua numbers are doubles)


def margin_units(margin_usdt: Decimal) -> int:
    """Return ``margin_usdt`` in whole cents, rounded up (never under-reserve)."""
    return int((margin_usdt / MARGIN_UNIT).to_integral_value(rounding=ROUND_CEILING))


class RiskLedger:
    """Reserve and release entries against the configured caps."""

    def __init__(self, redis: RedisClient, *, tombstone_ttl_ms: int = 7 * 86_400_000) -> None:
        self.redis = redis
        self.ledger = BudgetLedger(
            redis,
            names.RISK_FUT_MARGIN_INUSE,
            names.RISK_RESERVATIONS,
            tombstone_ttl_ms=tombstone_ttl_ms,
        )

    async def reserve(
        self, signal_id: str, symbol: str, margin_usdt: Decimal, risk: RiskConfig
    ) -> Reservation:
        """Hold ``margin_usdt`` and one concurrency unit of ``symbol``, or refuse (no change)."""
        reservation = await self.ledger.reserve(
            signal_id,
            margin_units(margin_usdt),
            names.risk_concurrency_key(symbol),
            total_cap=margin_units(risk.fut_margin_cap_usdt),
            slot_cap=risk.max_concurrent_per_symbol,
        )
        if reservation.ok and not reservation.duplicate:
            await self.mirror(symbol)
        return reservation

    async def reserve_add_on(
        self, add_id: str, symbol: str, margin_usdt: Decimal, risk: RiskConfig
    ) -> Reservation:
        """Hold an add-on's margin (S6, B3) without taking a concurrency unit: an add-on grows a
        position that already holds one. Released with the position (``release``)."""
        return await self.ledger.reserve(
            add_id,
            margin_units(margin_usdt),
            names.risk_add_on_slot_key(symbol),
            total_cap=margin_units(risk.fut_margin_cap_usdt),
            slot_cap=_ADD_ON_SLOT_CAP,
        )

    async def hold_existing(
        self, position_id: str, symbol: str, margin_usdt: Decimal
    ) -> Reservation:
        """Record a position found at the venue (S5's adoption) in the counters, caps ignored:
        the exposure exists whatever the caps say, and counting it makes S3 refuse what would
        exceed them. Released with the position (``release``)."""
        reservation = await self.ledger.reserve(
            position_id,
            margin_units(margin_usdt),
            names.risk_concurrency_key(symbol),
            total_cap=_UNCAPPED,
            slot_cap=_UNCAPPED,
        )
        if reservation.ok and not reservation.duplicate:
            await self.mirror(symbol)
        return reservation

    async def release(self, signal_id: str, symbol: str) -> bool:
        """Give back the entry's margin and concurrency unit; True only the first time."""
        released = await self.ledger.release(signal_id)
        if released:
            await self.mirror(symbol)
        return released

    async def mirror(self, symbol: str) -> None:
        """Copy the atomic counter of ``symbol`` to ``risk:{concurrency}:<symbol>``."""
        count = await self.redis.get(names.risk_concurrency_key(symbol))
        await self.redis.set(names.risk_concurrency_mirror_key(symbol), count or 0)

    async def usage(self, symbol: str) -> tuple[Decimal, int]:
        """Return the margin in use (USDT) and ``symbol``'s open-entry count."""
        total, slots = await self.ledger.usage([names.risk_concurrency_key(symbol)])
        return total * MARGIN_UNIT, slots[names.risk_concurrency_key(symbol)]


__all__ = ["MARGIN_UNIT", "RiskLedger", "margin_units"]
