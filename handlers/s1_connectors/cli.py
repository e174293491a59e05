"""``chimera connectors run``: S1, the exchange connectors, until SIGTERM/SIGINT (exit 0)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from chimera.venues.settings import VenueSettings
from chimera_workers.cli.common import run as run_loop
from chimera_workers.cli.common import user_errors
from chimera_workers.connections import open_db_pool, open_redis
from chimera_workers.endpoints import resolve_database_url, resolve_redis_url
from chimera_workers.errors import ConfigError
from chimera_workers.migrations import upgrade
from chimera_workers.settings import Settings
from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app
from handlers.s1_connectors.config import ConnectorConfig, parse_csv
from handlers.s1_connectors.funding import IncomeFetcher, ccxt_income_fetcher
from handlers.s1_connectors.service import ConnectorService

log = logging.getLogger("chimera.s1")

app = typer.Typer(help="Run S1, the exchange connectors.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """S1 — exchange connectors (market data into ``mkt:events:*``)."""


def _topology(path: Path) -> App | None:
    """Read ``streams.yaml`` for symbols, retention and the migrations directory, if present."""
    if not path.exists():
        return None
    # Only names and retention are needed: no handler code is imported.
    return load_app(path, import_code=False)


@app.command("run")
@user_errors
def run(
    symbols: Annotated[
        str | None,
        typer.Option(
            envvar="CHIMERA_SYMBOLS",
            help="Comma-separated symbols (default: streams.yaml `symbols`).",
        ),
    ] = None,
    kinds: Annotated[str, typer.Option(help="Markets: spot, perp or spot,perp.")] = "spot,perp",
    venue_url: Annotated[
        str | None, typer.Option(help="Paper venue base URL (default $CHIMERA_PAPER_URL).")
    ] = None,
    depth_levels: Annotated[int, typer.Option(help="Top-N levels per book event.")] = 10,
    depth_speed: Annotated[str, typer.Option(help="Diff stream speed: 100ms, 0ms, ...")] = "100ms",
    debounce_ms: Annotated[int, typer.Option(help="Publish at most one book event per N ms.")] = 0,
    no_funding: Annotated[bool, typer.Option("--no-funding", help="Skip funding.")] = False,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not apply database migrations at start.")
    ] = False,
    streams: Annotated[
        Path | None, typer.Option(help="Topology file (default $CHIMERA_STREAMS or streams.yaml).")
    ] = None,
) -> None:
    """Stream market data from the venue into Redis until SIGTERM/SIGINT; exit 0."""
    early_stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
    logging.basicConfig(
        level=os.environ.get("CHIMERA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    topology = _topology(streams or Path(settings.streams_file))
    # The paper URL default is filled in here: VenueSettings.from_env() needs the variable set.
    environ = dict(os.environ)
    environ.setdefault("CHIMERA_PAPER_URL", VenueSettings().paper_url)
    venue = VenueSettings.from_env(environ)
    if venue_url:
        if venue.mode != "paper":
            raise ConfigError(
                "--venue-url points S1 at the paper venue, but CHIMERA_VENUE=live",
                hint="drop --venue-url for live Binance, or set CHIMERA_VENUE=paper",
            )
        venue = msgspec.structs.replace(venue, paper_url=venue_url.rstrip("/"))
    default_symbols = topology.symbols if topology and topology.symbols else ("BTCUSDT",)
    try:
        config = ConnectorConfig(
            symbols=parse_csv(symbols, "symbols") if symbols else tuple(default_symbols),
            kinds=parse_csv(kinds, "kinds"),  # type: ignore[arg-type]
            depth_levels=depth_levels,
            depth_speed=depth_speed,
            debounce_ms=debounce_ms,
            funding=not no_funding,
            migrate=not no_migrate,
        )
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid option: {exc}") from exc
    redis_url = resolve_redis_url(settings)
    database_url = resolve_database_url(settings)
    migrations = (topology.migrations_dir if topology else None) or Path("migrations")
    if not migrations.is_dir():
        config = msgspec.structs.replace(config, migrate=False)
    run_loop(_run(config, venue, redis_url, database_url, topology, migrations, early_stop))


async def _run(
    config: ConnectorConfig,
    venue: VenueSettings,
    redis_url: str,
    database_url: str,
    topology: App | None,
    migrations: Path,
    early_stop: list[int],
) -> None:
    redis = await open_redis(redis_url)
    pool = await open_db_pool(database_url)
    exchange: Any = None
    try:
        if config.migrate:
            await upgrade(pool, migrations)
        income: IncomeFetcher | None = None
        if "perp" in config.kinds and config.funding:
            from chimera.venues.ccxt_factory import make_exchange

            exchange = make_exchange("perp", venue)
            income = ccxt_income_fetcher(exchange)
        service = ConnectorService(
            config, venue, redis, pool, maxlen=stream_maxlen(topology, config), income=income
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if early_stop:
            stop.set()
        log.info(
            "S1 %s: %s via %s",
            ",".join(config.kinds),
            ",".join(config.symbols),
            venue.paper_url if venue.mode == "paper" else "Binance",
        )
        await service.run(stop)
    finally:
        if exchange is not None:
            await exchange.close()
        await pool.close()
        await redis.aclose()


def stream_maxlen(topology: App | None, config: ConnectorConfig) -> Any:
    """Return the XADD cap of each stream: its declared ``retention.maxlen``, else the default."""

    def maxlen(stream: str) -> int | None:
        spec = topology.streams.get(stream) if topology else None
        if spec is not None and spec.retention.maxlen:
            return spec.retention.maxlen
        return config.default_maxlen

    return maxlen
