"""BudgetLedger on a real Redis and a real Cluster, with property tests.

Run as ``python -m tests.chimera_workers.test_budget URL SPEC_JSON`` this module is the worker
process of the multi-process property test: it reserves concurrently, reports, waits for a
line on stdin, releases everything it reserved, and reports again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera_workers.budget import BudgetLedger, Held, LedgerSnapshot, Reservation
from chimera_workers.connections import RedisClient, open_redis
from chimera_workers.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TOTAL = "risk:{budget}:test:inuse"
PREFIX = "risk:{budget}:test:res:"


def slot(i: int) -> str:
    return f"risk:{{budget}}:test:slot:{i}"


@pytest.fixture
def ledger(redis: RedisClient) -> BudgetLedger:
    return BudgetLedger(redis, TOTAL, PREFIX, tombstone_ttl_ms=60_000)


async def test_reserve_release_and_refusals(ledger: BudgetLedger) -> None:
    a = await ledger.reserve("a", 600, slot(1), total_cap=1000, slot_cap=2)
    assert a == Reservation("a", "held", None, 600, slot(1), False) and a.ok
    over = await ledger.reserve("b", 401, slot(2), total_cap=1000, slot_cap=2)
    assert (over.ok, over.state, over.refused_by) == (False, "refused", "BUDGET")
    assert (await ledger.reserve("c", 400, slot(1), total_cap=1000, slot_cap=2)).ok
    full = await ledger.reserve("d", 0, slot(1), total_cap=1000, slot_cap=2)
    assert (full.ok, full.refused_by) == (False, "SLOT_CAP")
    snap = await ledger.snapshot([slot(1), slot(2)])
    assert snap == LedgerSnapshot(
        1000, {slot(1): 2, slot(2): 0}, {"a": Held(600, slot(1)), "c": Held(400, slot(1))}
    )
    assert await ledger.release("a")
    assert await ledger.release("a") is False
    assert await ledger.release("never") is False
    assert await ledger.usage([slot(1)]) == (400, {slot(1): 1})
    assert await ledger.reservations() == {"c": Held(400, slot(1))}


async def test_duplicates_count_once_and_return_the_first_outcome(ledger: BudgetLedger) -> None:
    first = await ledger.reserve("x", 10, slot(1), total_cap=100, slot_cap=5)
    again = await ledger.reserve("x", 99, slot(2), total_cap=100, slot_cap=5)
    assert again == Reservation("x", "held", None, 10, slot(1), True)
    assert first.state == again.state
    refused = await ledger.reserve("y", 1000, slot(1), total_cap=100, slot_cap=5)
    assert refused.refused_by == "BUDGET"
    # Still refused although it would fit now: a duplicate gets the first outcome.
    assert (await ledger.reserve("y", 1, slot(1), total_cap=100, slot_cap=5)).refused_by == "BUDGET"
    assert await ledger.usage([slot(1), slot(2)]) == (10, {slot(1): 1, slot(2): 0})
    assert await ledger.release("x")
    released = await ledger.reserve("x", 10, slot(1), total_cap=100, slot_cap=5)
    assert (released.state, released.ok, released.duplicate) == ("released", False, True)
    assert await ledger.usage([slot(1)]) == (0, {slot(1): 0})


async def test_concurrent_duplicates_count_once(ledger: BudgetLedger) -> None:
    results = await asyncio.gather(
        *(ledger.reserve("dup", 7, slot(1), total_cap=100, slot_cap=5) for _ in range(30))
    )
    assert sum(not r.duplicate for r in results) == 1 and all(r.ok for r in results)
    releases = await asyncio.gather(*(ledger.release("dup") for _ in range(30)))
    assert sum(releases) == 1
    assert await ledger.usage([slot(1)]) == (0, {slot(1): 0})


async def test_tombstones_expire(redis: RedisClient) -> None:
    ledger = BudgetLedger(redis, TOTAL, PREFIX, tombstone_ttl_ms=100)
    assert (await ledger.reserve("t", 50, slot(1), total_cap=10, slot_cap=1)).refused_by
    assert (await ledger.reserve("h", 5, slot(1), total_cap=10, slot_cap=1)).ok
    assert await redis.pttl(ledger.record_key("h")) == -1
    assert await ledger.release("h")
    assert 0 < await redis.pttl(ledger.record_key("h")) <= 100
    await asyncio.sleep(0.25)
    assert await redis.exists(ledger.record_key("t"), ledger.record_key("h")) == 0
    assert (await ledger.reserve("t", 5, slot(1), total_cap=10, slot_cap=1)).ok


async def test_release_never_drives_counters_below_zero(
    redis: RedisClient, ledger: BudgetLedger
) -> None:
    assert (await ledger.reserve("r", 50, slot(1), total_cap=100, slot_cap=1)).ok
    await redis.set(TOTAL, 20)
    await redis.set(slot(1), 0)
    assert await ledger.release("r")
    assert await ledger.usage([slot(1)]) == (0, {slot(1): 0})


async def test_amounts_must_be_exact_integers(ledger: BudgetLedger) -> None:
    with pytest.raises(TypeError, match="minor units"):
        await ledger.reserve("f", 1.5, slot(1), total_cap=10, slot_cap=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await ledger.reserve("n", -1, slot(1), total_cap=10, slot_cap=1)
    with pytest.raises(ValueError):
        await ledger.reserve("big", 1, slot(1), total_cap=2**53, slot_cap=1)
    big = await ledger.reserve("b", 2**53 - 2, slot(1), total_cap=2**53 - 1, slot_cap=9)
    assert big.ok
    assert (await ledger.reserve("c", 2, slot(1), total_cap=2**53 - 1, slot_cap=9)).refused_by
    assert (await ledger.reserve("d", 1, slot(1), total_cap=2**53 - 1, slot_cap=9)).ok
    assert await ledger.usage() == (2**53 - 1, {})


async def test_keys_must_share_one_slot(redis: RedisClient, ledger: BudgetLedger) -> None:
    with pytest.raises(ConfigError, match="hash slot"):
        BudgetLedger(redis, "risk:{a}:inuse", "risk:{b}:res:")
    with pytest.raises(ConfigError, match="hash slot"):
        await ledger.reserve("x", 1, "risk:{other}:slot", total_cap=10, slot_cap=1)
    with pytest.raises(ConfigError, match="collides"):
        await ledger.reserve("x", 1, TOTAL, total_cap=10, slot_cap=1)
    assert await ledger.usage() == (0, {})


# -- sequential model ------------------------------------------------------------------------


@dataclass
class Model:
    """What the ledger must hold after a sequence of operations, computed in plain Python."""

    total_cap: int
    slot_cap: int
    records: dict[str, tuple[str, str | None, int, str]] = field(default_factory=dict)

    def live(self) -> dict[str, Held]:
        return {k: Held(r[2], r[3]) for k, r in self.records.items() if r[0] == "held"}

    def reserve(self, rid: str, amount: int, slot_key: str) -> Reservation:
        if rid in self.records:
            state, refused_by, stored, stored_slot = self.records[rid]
            return Reservation(rid, state, refused_by, stored, stored_slot, True)  # type: ignore[arg-type]
        live = self.live().values()
        total = sum(h.amount for h in live)
        used = sum(1 for h in live if h.slot_key == slot_key)
        refused = "BUDGET" if total + amount > self.total_cap else None
        if refused is None and used >= self.slot_cap:
            refused = "SLOT_CAP"
        self.records[rid] = ("refused" if refused else "held", refused, amount, slot_key)
        return Reservation(rid, self.records[rid][0], refused, amount, slot_key, False)  # type: ignore[arg-type]

    def release(self, rid: str) -> bool:
        record = self.records.get(rid)
        if record is None or record[0] != "held":
            return False
        self.records[rid] = ("released", *record[1:])
        return True


_example = itertools.count()
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(0, 6), st.integers(0, 60), st.integers(0, 2)),
        st.tuples(st.just("release"), st.integers(0, 6), st.just(0), st.just(0)),
    ),
    max_size=25,
)


@pytest.mark.parametrize(
    "url_fixture", ["redis_url", pytest.param("cluster_url", marks=pytest.mark.cluster)]
)
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=ops_strategy, total_cap=st.integers(0, 150), slot_cap=st.integers(0, 3))
def test_counters_always_equal_live_reservations(
    request: pytest.FixtureRequest,
    url_fixture: str,
    ops: list[tuple[str, int, int, int]],
    total_cap: int,
    slot_cap: int,
) -> None:
    url = request.getfixturevalue(url_fixture)
    run_in_new_loop(check_sequence(url, ops, total_cap, slot_cap))


async def check_sequence(
    url: str, ops: list[tuple[str, int, int, int]], total_cap: int, slot_cap: int
) -> None:
    client = await open_redis(url)
    try:
        n = next(_example)
        ledger = BudgetLedger(client, f"{{p{n}}}:total", f"{{p{n}}}:res:")
        slots = [f"{{p{n}}}:slot:{i}" for i in range(3)]
        model = Model(total_cap, slot_cap)
        for op, rid_n, amount, slot_n in ops:
            rid = f"r{rid_n}"
            if op == "reserve":
                got = await ledger.reserve(
                    rid, amount, slots[slot_n], total_cap=total_cap, slot_cap=slot_cap
                )
                assert got == model.reserve(rid, amount, slots[slot_n])
            else:
                assert await ledger.release(rid) == model.release(rid)
            snap = await ledger.snapshot(slots)
            live = model.live()
            assert snap.reservations == live
            assert snap.total == sum(h.amount for h in live.values()) <= total_cap
            for key in slots:
                assert snap.slots[key] == sum(h.slot_key == key for h in live.values())
                assert snap.slots[key] <= slot_cap
    finally:
        await client.aclose()


def run_in_new_loop(coro: Any) -> Any:
    # Hypothesis drives a synchronous test; its own loop keeps pytest-asyncio's untouched.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# -- many processes --------------------------------------------------------------------------

PROCESSES = 8
PER_PROCESS = 1_000
ID_SPACE = 4_000


def draw(spec: dict[str, Any], i: int) -> tuple[int, str]:
    """The amount and slot of reservation ``i``: the same in every process, so duplicates agree."""
    rng = random.Random(spec["seed"] * 1_000_003 + i)
    return rng.randint(0, spec["max_amount"]), spec["slots"][rng.randrange(len(spec["slots"]))]


async def worker(url: str, spec: dict[str, Any]) -> None:
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=16)
    client = aioredis.Redis(connection_pool=pool)
    ledger = BudgetLedger(client, spec["total"], spec["prefix"])
    rng = random.Random(spec["seed"] * 31 + spec["proc"])
    ids = [rng.randrange(ID_SPACE) for _ in range(PER_PROCESS)]

    async def reserve(i: int) -> list[Any]:
        amount, slot_key = draw(spec, i)
        r = await ledger.reserve(
            f"id{i}", amount, slot_key, total_cap=spec["total_cap"], slot_cap=spec["slot_cap"]
        )
        return [r.reservation_id, r.state, r.refused_by, r.amount, r.slot_key]

    results = await asyncio.gather(*(reserve(i) for i in ids))
    print(json.dumps(results), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    released = await asyncio.gather(*(ledger.release(f"id{i}") for i in ids))
    print(json.dumps(sum(released)), flush=True)
    await client.aclose()
    await pool.disconnect()


@settings(
    max_examples=3,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**31),
    total_cap=st.integers(0, 2_000_000),
    slot_cap=st.integers(0, 600),
    n_slots=st.integers(1, 8),
    max_amount=st.integers(0, 2_000),
)
def test_caps_hold_across_processes(
    redis_url: str, seed: int, total_cap: int, slot_cap: int, n_slots: int, max_amount: int
) -> None:
    n = next(_example)
    spec = {
        "seed": seed,
        "total_cap": total_cap,
        "slot_cap": slot_cap,
        "max_amount": max_amount,
        "total": f"{{mp{n}}}:total",
        "prefix": f"{{mp{n}}}:res:",
        "slots": [f"{{mp{n}}}:slot:{i}" for i in range(n_slots)],
    }
    run_in_new_loop(run_processes(redis_url, spec))


async def run_processes(url: str, spec: dict[str, Any]) -> None:
    client = await open_redis(url)
    ledger = BudgetLedger(client, spec["total"], spec["prefix"])
    slots = spec["slots"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.chimera_workers.test_budget",
            url,
            json.dumps({**spec, "proc": p}),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for p in range(PROCESSES)
    ]
    try:
        reserved = await sample_until(ledger, slots, spec, [read_line(p) for p in procs])
        held = check_reservations(await ledger.snapshot(slots), reserved, spec)
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
        released = await sample_until(ledger, slots, spec, [read_line(p) for p in procs])
        assert sum(released) == len(held), "every held reservation is released exactly once"
        final = await ledger.snapshot(slots)
        assert final == LedgerSnapshot(0, dict.fromkeys(slots, 0), {})
        assert [await asyncio.wait_for(p.wait(), 30) for p in procs] == [0] * PROCESSES
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
            await p.wait()
        await client.aclose()


async def read_line(proc: asyncio.subprocess.Process) -> Any:
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line, f"worker {proc.pid} exited with {await proc.wait()}"
    return json.loads(line)


async def sample_until(
    ledger: BudgetLedger, slots: list[str], spec: dict[str, Any], readers: list[Any]
) -> list[Any]:
    """Check the invariants on atomic snapshots while the workers run; return their reports."""
    done = asyncio.ensure_future(asyncio.gather(*readers))
    samples = 0
    while not done.done():
        snap = await ledger.snapshot(slots)
        live = snap.reservations.values()
        assert snap.total == sum(h.amount for h in live) <= spec["total_cap"]
        for key in slots:
            assert snap.slots[key] == sum(h.slot_key == key for h in live) <= spec["slot_cap"]
        samples += 1
        await asyncio.sleep(0.01)
    assert samples > 0
    return list(await done)


def check_reservations(
    snap: LedgerSnapshot, reports: list[list[list[Any]]], spec: dict[str, Any]
) -> dict[str, Held]:
    outcomes: dict[str, set[tuple[Any, ...]]] = {}
    for report in reports:
        for rid, state, refused_by, amount, slot_key in report:
            outcomes.setdefault(rid, set()).add((state, refused_by, amount, slot_key))
    assert all(len(o) == 1 for o in outcomes.values()), "duplicates disagree"
    final = {rid: next(iter(o)) for rid, o in outcomes.items()}
    held = {rid: Held(o[2], o[3]) for rid, o in final.items() if o[0] == "held"}
    assert snap.reservations == held
    assert snap.total == sum(h.amount for h in held.values()) <= spec["total_cap"]
    for key, count in snap.slots.items():
        assert count == sum(h.slot_key == key for h in held.values()) <= spec["slot_cap"]
    # Counters only grew while reserving, so every refusal must still be justified at the end.
    for state, refused_by, amount, slot_key in final.values():
        if refused_by == "BUDGET":
            assert amount > spec["total_cap"] - snap.total
        elif refused_by == "SLOT_CAP":
            assert snap.slots[slot_key] == spec["slot_cap"]
        else:
            assert state == "held"
    return held


if __name__ == "__main__":
    asyncio.run(worker(sys.argv[1], json.loads(sys.argv[2])))
