"""A budget ledger: atomic, idempotent reservations against a total cap and per-slot caps.

``reserve`` adds an integer amount to a total counter, but only while the total stays within
``total_cap``, and counts one unit in a slot counter (any key the caller names), but only
while that slot stays within ``slot_cap``. Both checks and both increments happen in one Lua
script, so concurrent callers can never overshoot either cap. Each reservation has an id:
reserving an id again returns its first outcome and counts nothing, and releasing it gives the
amount and the slot unit back exactly once.

Amounts are integers (convert money to minor units first, never floats) in ``[0, 2**53)``,
because Redis Lua compares numbers as doubles.

Keys, given a ``total_key`` and a ``reservation_prefix`` that share a hash tag:

* ``total_key``: the sum of held amounts.
* slot keys, chosen per call: the number of held reservations in that slot.
* ``<prefix>live``: a hash of held reservations, ``id -> "<amount>|<slot key>"``.
* ``<prefix>r:<id>``: the reservation record. Held records never expire; refused and
  released ones stay as tombstones for ``tombstone_ttl_ms`` so a late duplicate still gets the
  first outcome. After that, the id is unknown again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chimera_workers.connections import RedisClient
from chimera_workers.errors import ConfigError
from chimera_workers.scripts import check_same_slot, run_script

MAX_AMOUNT = 2**53 - 1
"""The largest amount, cap or counter value the ledger handles exactly."""

ReservationState = Literal["held", "refused", "released"]
RefusedBy = Literal["BUDGET", "SLOT_CAP"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """The outcome of ``reserve``: ``ok`` is True while the reservation holds budget."""

    reservation_id: str
    state: ReservationState
    refused_by: RefusedBy | None
    amount: int
    slot_key: str
    duplicate: bool

    @property
    def ok(self) -> bool:
        """Tell whether the reservation currently holds its amount and slot unit."""
        return self.state == "held"


@dataclass(frozen=True, slots=True)
class Held:
    """A live reservation."""

    amount: int
    slot_key: str


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """The ledger read atomically: total, the requested slot counters, live reservations."""

    total: int
    slots: dict[str, int] = field(default_factory=dict)
    reservations: dict[str, Held] = field(default_factory=dict)


_STATES: dict[str, ReservationState] = {
    "held": "held",
    "refused": "refused",
    "released": "released",
}
_REFUSALS: dict[str, RefusedBy] = {"BUDGET": "BUDGET", "SLOT_CAP": "SLOT_CAP"}


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _check_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (integer minor units), got {value!r}")
    if not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"{name} must be within [0, 2**53), got {value}")
    return value


class BudgetLedger:
    """Reservations against ``total_key`` recorded under ``reservation_prefix``."""

    def __init__(
        self,
        redis: RedisClient,
        total_key: str,
        reservation_prefix: str,
        *,
        tombstone_ttl_ms: int = 86_400_000,
    ) -> None:
        if tombstone_ttl_ms <= 0:
            raise ConfigError(f"tombstone_ttl_ms must be positive, got {tombstone_ttl_ms}")
        self.redis = redis
        self.total_key = total_key
        self.prefix = reservation_prefix
        self.live_key = f"{reservation_prefix}live"
        self.tombstone_ttl_ms = tombstone_ttl_ms
        check_same_slot([total_key, self.live_key], what="budget ledger")

    def record_key(self, reservation_id: str) -> str:
        """Name the record of ``reservation_id``."""
        return f"{self.prefix}r:{reservation_id}"

    async def reserve(
        self, reservation_id: str, amount: int, slot_key: str, *, total_cap: int, slot_cap: int
    ) -> Reservation:
        """Hold ``amount`` of ``total_cap`` and one unit of ``slot_key``'s ``slot_cap``, or refuse.

        A refusal names the limit (``BUDGET`` first, then ``SLOT_CAP``) and changes no counter.
        Reserving a known id returns its recorded outcome with ``duplicate=True``.
        """
        _check_int("amount", amount)
        _check_int("total_cap", total_cap)
        _check_int("slot_cap", slot_cap)
        if slot_key in (self.total_key, self.live_key) or slot_key.startswith(self.prefix):
            raise ConfigError(f"slot key {slot_key!r} collides with the ledger's own keys")
        keys = [self.total_key, slot_key, self.live_key, self.record_key(reservation_id)]
        args: list[str | int] = [reservation_id, amount, total_cap, slot_cap, self.tombstone_ttl_ms]
        reply = await run_script(self.redis, "budget_reserve", keys, args)
        state, refused_by, stored_amount, stored_slot = (_text(x) for x in reply[:4])
        return Reservation(
            reservation_id,
            _STATES[state],
            _REFUSALS.get(refused_by),
            int(stored_amount),
            stored_slot,
            bool(reply[4]),
        )

    async def release(self, reservation_id: str) -> bool:
        """Give back a held reservation's amount and slot unit; True only on the first call."""
        record = self.record_key(reservation_id)
        slot = await self.redis.hget(record, "slot")
        if slot is None:
            return False
        keys = [self.total_key, _text(slot), self.live_key, record]
        reply = await run_script(
            self.redis, "budget_release", keys, [reservation_id, self.tombstone_ttl_ms]
        )
        return _text(reply[0]) == "held"

    async def snapshot(self, slot_keys: Sequence[str] = ()) -> LedgerSnapshot:
        """Read the total, the counters of ``slot_keys`` and the live reservations atomically."""
        keys = [self.total_key, self.live_key, *slot_keys]
        reply = await run_script(self.redis, "budget_snapshot", keys)
        return _parse_snapshot(reply, slot_keys)

    async def usage(self, slot_keys: Sequence[str] = ()) -> tuple[int, dict[str, int]]:
        """Return the total in use and the counters of ``slot_keys``."""
        snap = await self.snapshot(slot_keys)
        return snap.total, snap.slots

    async def reservations(self) -> dict[str, Held]:
        """Return the live reservations by id."""
        return (await self.snapshot()).reservations


def _parse_snapshot(reply: Any, slot_keys: Sequence[str]) -> LedgerSnapshot:
    total, slot_values, flat = reply
    live: dict[str, Held] = {}
    for i in range(0, len(flat), 2):
        amount, _, slot = _text(flat[i + 1]).partition("|")
        live[_text(flat[i])] = Held(int(amount), slot)
    slots = {k: int(v) for k, v in zip(slot_keys, slot_values, strict=True)}
    return LedgerSnapshot(int(total), slots, live)


__all__ = ["MAX_AMOUNT", "BudgetLedger", "Held", "LedgerSnapshot", "RefusedBy", "Reservation"]
