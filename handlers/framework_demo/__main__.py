"""``python -m handlers.framework_demo``: the framework demo behind ``make demo`` (issue A).

Embedded servers up, migrations applied, the Procfile's workers started through
``chimera up``'s supervisor, producers enqueuing ticks, a live display; at the end (after
``--duration`` seconds or Ctrl-C) producers stop, the workers drain, and a summary prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.inspect import dead_letters_of
from chimera_workers.cli.up import endpoint_env, prepare
from chimera_workers.codec import entry_fields
from chimera_workers.connections import RedisClient, open_db_pool, open_redis
from chimera_workers.consumer import now_ms
from chimera_workers.inspection import stream_stats
from chimera_workers.procfile import parse_concurrency, parse_procfile
from chimera_workers.settings import Settings
from chimera_workers.supervisor import Supervisor
from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import ensure_declared_groups
from handlers.framework_demo.events import Tick
from handlers.framework_demo.handlers import COUNTS_KEY, HEARTBEAT_KEY

TICKS = "demo:ticks:{demo}:<SYMBOL>"
# The framework demo has its own topology and Procfile beside this module.
DEMO_DIR = Path(__file__).resolve().parent


class Producer:
    """Write ticks for every symbol at ``rate`` per second; ``poison_every`` marks some bad."""

    def __init__(self, redis: RedisClient, app: App, rate: int, poison_every: int) -> None:
        self.redis, self.rate, self.poison_every = redis, rate, poison_every
        self.streams = [s for s in app.streams.values() if s.template == TICKS]
        self.produced = 0
        self._rng = random.Random(42)
        self._prices = {s.name: 100_000_00 for s in self.streams}

    async def run(self, stop: asyncio.Event) -> None:
        # Sequence numbers continue across runs so every tick is a new row.
        period, seq = 0.05, now_ms() * 1000
        per_round = max(1, int(self.rate * period / len(self.streams)))
        while not stop.is_set():
            started = time.monotonic()
            pipe = self.redis.pipeline(transaction=False)
            for spec in self.streams:
                symbol = spec.name.rsplit(":", 1)[1]
                for _ in range(per_round):
                    seq += 1
                    self._prices[spec.name] += self._rng.randint(-500, 500)
                    tick = Tick(
                        symbol=symbol,
                        seq=seq,
                        price=self._prices[spec.name],
                        ts_ms=now_ms(),
                        poison=seq % self.poison_every == 0,
                    )
                    pipe.xadd(spec.name, entry_fields(tick))  # type: ignore[arg-type]
            await pipe.execute()
            self.produced += per_round * len(self.streams)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))


async def snapshot(
    redis: RedisClient, app: App
) -> list[tuple[str, int, int, int, int, float, int]]:
    rows = []
    now = now_ms()
    for name in sorted(app.streams):
        stats = await stream_stats(redis, name, now)
        dlq = sum([int(await redis.xlen(d)) for d in dead_letters_of(app, name)])
        lag = sum(g.lag or 0 for g in stats.groups)
        pend = sum(g.pending for g in stats.groups)
        age = max([(g.oldest_pending_age_ms or 0) / 1000 for g in stats.groups] or [0.0])
        rows.append((name, stats.length, len(stats.groups), lag, pend, age, dlq))
    return rows


def table(
    title: str, rows: list[tuple[str, int, int, int, int, float, int]], extra: list[str]
) -> Table:
    t = Table(title=title, caption="  ".join(extra))
    for col in ("stream", "length", "groups", "lag", "pending", "oldest pending", "DLQ"):
        t.add_column(col, justify="left" if col == "stream" else "right")
    for name, length, groups, lag, pend, age, dlq in rows:
        t.add_row(name, str(length), str(groups), str(lag), str(pend), f"{age:.1f}s", str(dlq))
    return t


def open_log(path: Path) -> TextIO:
    """Open the workers' log (their output would garble the live display)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a")


async def demo(
    streams: Path, procfile: Path, duration: float | None, rate: int, ticks_workers: int
) -> int:
    console = Console()
    app = load_app(streams)
    console.print("[bold]Chimera framework demo[/]: starting embedded Redis and PostgreSQL ...")
    endpoints = await prepare(app)
    redis = await open_redis(endpoints.redis_url)
    db = await open_db_pool(endpoints.database_url)
    await ensure_declared_groups(redis, app)
    log_path = Settings.from_env().state_path / "demo-workers.log"
    log = open_log(log_path)
    types = parse_procfile(procfile)
    sup = Supervisor(
        types,
        parse_concurrency([f"demo-ticks={ticks_workers}"], types),
        env={**endpoint_env(endpoints), "CHIMERA_STREAMS": str(streams)},
        echo=lambda line: print(line, file=log, flush=True),
    )
    await sup.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    producer = Producer(redis, app, rate, poison_every=997)
    base_rows = await db.fetchval("SELECT count(*) FROM demo_ticks")
    base_dlq = sum(r[6] for r in await snapshot(redis, app))
    producing = asyncio.create_task(producer.run(stop))
    started = time.monotonic()
    console.print(f"workers: {', '.join(s.name for s in sup.slots)} (logs: {log_path})")
    with Live(console=console, refresh_per_second=4) as live:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            stored = await db.fetchval("SELECT count(*) FROM demo_ticks") - base_rows
            live.update(
                table(
                    f"t+{elapsed:.0f}s  produced {producer.produced}  stored {stored}  "
                    f"({stored / max(elapsed, 0.001):.0f}/s)",
                    await snapshot(redis, app),
                    ["Ctrl-C or DURATION ends the run"],
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    stop.set()
    await producing
    console.print("producers stopped; letting the workers drain ...")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = await snapshot(redis, app)
        if all(lag == 0 and pend == 0 for _, _, _, lag, pend, _, _ in rows):
            break
        await asyncio.sleep(0.5)
    await sup.stop()
    rows = await snapshot(redis, app)
    stored = await db.fetchval("SELECT count(*) FROM demo_ticks") - base_rows
    raw_counts: dict[bytes, bytes] = await redis.hgetall(COUNTS_KEY)  # type: ignore[assignment]
    counts = {k.decode(): int(v) for k, v in raw_counts.items()}
    beats = int(await redis.get(HEARTBEAT_KEY) or 0)
    elapsed = time.monotonic() - started
    dlq = sum(r[6] for r in rows) - base_dlq
    balanced = "yes" if stored + dlq == producer.produced else "NO"
    console.print(
        table(
            "Summary",
            rows,
            [
                f"produced {producer.produced}",
                f"stored {stored}",
                f"dead-lettered {dlq}",
                f"produced = stored + dead-lettered: {balanced}",
                f"throughput {stored / elapsed:.0f}/s",
                f"heartbeats {beats}",
            ],
        )
    )
    console.print(f"per-symbol counts (all runs): {counts}")
    console.print(f"worker exits: {[(s.name, s.exits) for s in sup.slots]}")
    await redis.aclose()
    await db.close()
    return 0


@user_errors
def main(
    duration: Annotated[
        float | None, typer.Option("--duration", help="Seconds to run; default until Ctrl-C.")
    ] = None,
    rate: Annotated[
        int, typer.Option("--rate", min=1, help="Ticks per second across all symbols.")
    ] = 1000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="demo-ticks worker processes.")
    ] = 2,
    streams: Annotated[Path, typer.Option("--streams")] = DEMO_DIR / "streams.yaml",
    procfile: Annotated[Path, typer.Option("--procfile")] = DEMO_DIR / "Procfile",
) -> None:
    """Run the framework demo."""
    raise typer.Exit(run(demo(streams, procfile, duration, rate, workers)))


if __name__ == "__main__":
    typer.run(main)
