"""``python -m chimera.demo`` (``make demo``): the whole system on the paper venue, watched live.

Embedded Redis and PostgreSQL come up and migrate; the Procfile's processes start (the paper venue
on a seeded synthetic market or a recorded capture, S1 to S6, the HTTP API); live tables show
market data flowing through the streams, features, decisions and orders, the account's positions
and PnL, and each consumer group's lag. After ``--duration`` seconds or Ctrl-C the account is read
a last time, the processes stop and a summary reconciles the run: every trade id S1 saw is in the
streams, with no hole; fills, positions, PnL and the largest lag seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live

from chimera.demo.account import AccountSnapshot, AccountWatch
from chimera.demo.dashboard import lag_table, market_table, pipeline_table, positions_table
from chimera.demo.lag import LagWatch, main_streams
from chimera.demo.pipeline import Pipeline
from chimera.demo.tape import MarketTape
from chimera.paper.control import PaperControl, PaperControlError
from chimera.venues.settings import VenueSettings
from chimera_workers.cli.common import run, user_errors
from chimera_workers.cli.up import endpoint_env, prepare
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.errors import ChimeraError
from chimera_workers.procfile import parse_concurrency, parse_procfile
from chimera_workers.settings import Settings
from chimera_workers.supervisor import Supervisor
from chimera_workers.topology_loader import load_app
from chimera_workers.worker import ensure_declared_groups

ROOT = Path(__file__).resolve().parent.parent.parent
REPLAY_SYMBOL = "BTCUSDT"  # the recorded captures are BTCUSDT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for_venue(
    url: str, sup: Supervisor, log_path: Path, timeout_s: float = 90.0
) -> dict[str, object]:
    """Return the venue's status once it answers; fail if it does not within ``timeout_s`` or
    keeps exiting."""
    deadline = time.monotonic() + timeout_s
    venue = next(s for s in sup.slots if s.name.startswith("venue."))
    async with PaperControl(url) as control:
        while True:
            with contextlib.suppress(PaperControlError, OSError):
                return await control.status()
            if len(venue.exits) >= 2:
                text = await asyncio.to_thread(log_path.read_text)
                said = [ln for ln in text.splitlines() if ln.startswith("venue.")]
                raise ChimeraError(
                    f"the paper venue keeps exiting: {said[-2] if len(said) > 1 else '?'}",
                    hint=f"see {log_path}",
                )
            if time.monotonic() > deadline:
                raise ChimeraError(
                    f"the paper venue did not answer at {url} within {timeout_s:.0f}s",
                    hint="see the process log under the state directory",
                )
            await asyncio.sleep(0.3)


async def demo(
    duration: float | None, data: list[Path], seed: int, speed: float, streams: Path, procfile: Path
) -> int:
    console = Console()
    app = load_app(streams)
    console.print("[bold]Chimera demo[/]: starting embedded Redis and PostgreSQL ...")
    endpoints = await prepare(app)
    redis = await open_redis(endpoints.redis_url)
    db = await open_db_pool(endpoints.database_url)
    await ensure_declared_groups(redis, app)
    state = Settings.from_env().state_path
    state.mkdir(parents=True, exist_ok=True)
    symbols = [REPLAY_SYMBOL] if data else list(app.symbols)
    venue_port, api_port = free_port(), free_port()
    venue_url = f"http://127.0.0.1:{venue_port}"
    env = {
        **endpoint_env(endpoints),
        "CHIMERA_STREAMS": str(streams),
        "CHIMERA_VENUE": "paper",
        "CHIMERA_PAPER_URL": venue_url,
        "CHIMERA_PAPER_PORT": str(venue_port),
        "CHIMERA_PAPER_SEED": str(seed),
        "CHIMERA_PAPER_SPEED": str(speed),
        "CHIMERA_PAPER_STATE_DIR": str(state / "paper"),
        "CHIMERA_SYMBOLS": ",".join(symbols),
        "CHIMERA_API_PORT": str(api_port),
        "CHIMERA_SERVICE_TOKEN": os.environ.get("CHIMERA_SERVICE_TOKEN")
        or secrets.token_urlsafe(24),
    }
    if data:
        env["CHIMERA_PAPER_DATA"] = os.pathsep.join(str(p.resolve()) for p in data)
    log_path = state / "demo-processes.log"
    log = log_path.open("a")
    types = parse_procfile(procfile)
    sup = Supervisor(
        types,
        parse_concurrency([], types),
        env=env,
        echo=lambda line: print(line, file=log, flush=True),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fills_before = int(await db.fetchval("SELECT count(*) FROM fills"))
    account = AccountWatch(VenueSettings(mode="paper", paper_url=venue_url), db, symbols)
    lag = LagWatch(main_streams(symbols, set(app.streams)))
    final = AccountSnapshot()
    await sup.start()
    try:
        console.print(f"processes: {', '.join(s.name for s in sup.slots)} (log: {log_path})")
        await wait_for_venue(venue_url, sup, log_path)
        source = (
            f"replay of {', '.join(p.name for p in data)}" if data else f"synthetic, seed {seed}"
        )
        console.print(
            f"paper venue at {venue_url} ({source}, speed {speed}); "
            f"API at http://127.0.0.1:{api_port}/schema (token in CHIMERA_SERVICE_TOKEN)"
        )
        names = [
            name
            for name in app.streams
            if name.startswith("mkt:events:") and name.rsplit(":", 1)[1] in symbols
        ]
        tape = MarketTape(names)
        await tape.skip_history(redis)
        pipeline = Pipeline(symbols)
        await pipeline.skip_history(redis)
        started = time.monotonic()
        with Live(console=console, refresh_per_second=4) as live:
            while not stop.is_set():
                elapsed = time.monotonic() - started
                if duration is not None and elapsed >= duration:
                    break
                await tape.poll(redis)
                await pipeline.poll(redis)
                await lag.poll(redis)
                account.tick()
                live.update(
                    Group(
                        market_table(
                            f"t+{elapsed:.0f}s  market data through the streams",
                            tape,
                            "Ctrl-C or DURATION ends the run",
                        ),
                        pipeline_table(pipeline),
                        positions_table(account.snapshot),
                        lag_table(lag, per_symbol=False),
                    )
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
        await tape.poll(redis)
        await pipeline.poll(redis)
        await lag.poll(redis)
        elapsed = time.monotonic() - started
        final = await account.read()  # while the venue still runs
    finally:
        await account.close()
        await sup.stop()
        log.close()
    bars = await db.fetchval("SELECT count(*) FROM bars_1m")
    funding = await db.fetchval("SELECT count(*) FROM funding_records")
    total = sum(t.total for t in tape.tapes.values())
    holes = sum(t.trade_holes for t in tape.tapes.values())
    crossed = sum(t.crossed for t in tape.tapes.values())
    console.print(
        market_table(
            "Summary",
            tape,
            f"{total:,} market events in {elapsed:.0f}s ({total / max(elapsed, 1e-3):,.0f}/s)  "
            f"bars_1m rows {bars}  funding_records rows {funding}",
        )
    )
    console.print(pipeline_table(pipeline))
    console.print(positions_table(final))
    console.print(lag_table(lag))
    fills = final.pnl.fills
    console.print(
        f"fills: {'n/a' if fills is None else fills - fills_before} this run, "
        f"{'n/a' if fills is None else fills} in the account"
    )
    console.print(
        f"max stream lag seen: {lag.max_lag:,}" + (f" ({lag.max_lag_at})" if lag.max_lag_at else "")
    )
    console.print(f"trade ids contiguous on every stream: {'yes' if holes == 0 else 'NO'}")
    console.print(f"crossed books published: {crossed}")
    console.print(f"process exits: {[(s.name, s.exits) for s in sup.slots]}")
    await redis.aclose()
    await db.close()
    return 0


@user_errors
def main(
    duration: Annotated[
        float | None, typer.Option("--duration", help="Seconds to run; default until Ctrl-C.")
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="Replay a recorded Binance capture (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic market.")] = 7,
    speed: Annotated[
        float, typer.Option("--speed", help="Venue time per wall time (10: a bar every 6 s).")
    ] = 10.0,
    streams: Annotated[Path, typer.Option("--streams")] = ROOT / "streams.yaml",
    procfile: Annotated[Path, typer.Option("--procfile")] = ROOT / "Procfile",
) -> None:
    """Run the Procfile on the paper venue; show the streams, orders, account and lag live."""
    for path in data or []:
        if not path.is_file():
            raise ChimeraError(f"--data {path}: no such file")
    raise typer.Exit(run(demo(duration, data or [], seed, speed, streams, procfile)))


if __name__ == "__main__":
    typer.run(main)
