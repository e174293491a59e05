"""``chimera venue serve``: run the paper venue until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import typer

from chimera.paper.settings import PaperVenueConfig
from chimera.paper.venue import PaperVenue, default_plugin_factory
from chimera_workers.cli.common import run, user_errors
from chimera_workers.errors import ConfigError

app = typer.Typer(
    help="Run the paper venue (a Binance-compatible exchange simulator).", no_args_is_help=True
)
log = logging.getLogger("chimera.paper")


@app.callback()
def _group() -> None:
    """Run the paper venue (a Binance-compatible exchange simulator)."""


@app.command()
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(
        8765, envvar="CHIMERA_PAPER_PORT", help="TCP port; 0 picks a free one (printed at start)."
    ),
    seed: int = typer.Option(7, envvar="CHIMERA_PAPER_SEED", help="Seed of the synthetic market."),
    speed: float = typer.Option(
        1.0, envvar="CHIMERA_PAPER_SPEED", help="Venue time per wall time; 0 = as fast as possible."
    ),
    data: list[Path] = typer.Option(  # noqa: B008
        [],
        "--data",
        envvar="CHIMERA_PAPER_DATA",
        help="Replay this Binance capture (repeatable) instead of synthetic data.",
    ),
    symbols: list[str] = typer.Option(  # noqa: B008
        [],
        "--symbols",
        envvar="CHIMERA_SYMBOLS",
        help="Serve only these symbols (repeatable), e.g. BTCUSDT.",
    ),
    state_dir: str = typer.Option(
        ".chimera/paper",
        envvar="CHIMERA_PAPER_STATE_DIR",
        help="Where the trading side keeps state.",
    ),
    warmup_ms: int = typer.Option(600_000, help="Synthetic history generated at start-up."),
) -> None:
    """Serve Binance's spot and USDⓈ-M protocol on one port until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    names = tuple(s.strip().upper() for item in symbols for s in item.split(",") if s.strip())
    try:
        config = PaperVenueConfig(
            host=host,
            port=port,
            seed=seed,
            speed=speed,
            # $CHIMERA_PAPER_DATA may hold several files separated by os.pathsep.
            data_files=tuple(f for p in data for f in str(p).split(os.pathsep) if f),
            symbols=names,
            state_dir=state_dir,
            warmup_ms=warmup_ms,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    run(_serve(config))


async def _serve(config: PaperVenueConfig) -> None:
    venue = PaperVenue(config, default_plugin_factory())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await venue.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one)",
        ) from exc
    mode = "replay" if config.replay else f"synthetic seed={config.seed}"
    trading = "with trading" if venue.plugin is not None else "market data only"
    typer.echo(f"paper venue listening on {venue.base_url} ({mode}, {trading})", err=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping the paper venue")
        await venue.stop()
