"""The paper venue's configuration: where it listens and which market it serves."""

from __future__ import annotations

from pathlib import Path

import msgspec

from chimera.paper.markets import DEFAULT_MARKETS, MarketSpec
from chimera_workers.errors import ConfigError


class PaperVenueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One paper venue: a synthetic market (no ``data_files``) or a replay of captures."""

    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port (the runner reports the one it got)
    seed: int = 7
    # Venue time runs ``speed`` times wall time; 0 replays/generates as fast as possible.
    speed: float = 1.0
    # Recorded Binance captures (``<recv_ns> <combined-stream JSON>`` per line, gzip or plain).
    data_files: tuple[str, ...] = ()
    # Symbols served (Binance ids, e.g. "BTCUSDT"); empty: every default market.
    symbols: tuple[str, ...] = ()
    state_dir: str = ".chimera/paper"
    # Synthetic market: venue time of the first generated event; 0 means "now" at start-up.
    start_epoch_ms: int = 0
    # Synthetic market: venue time generated instantly at start-up so trades and bars exist.
    warmup_ms: int = 600_000
    # Bounded per-connection websocket send queue; a consumer this far behind is dropped.
    ws_queue_size: int = 20_000

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range", hint="use 0..65535")
        if self.speed < 0:
            raise ConfigError(f"speed {self.speed} is negative", hint="use 0 (max) or > 0")
        if self.warmup_ms < 0 or self.start_epoch_ms < 0:
            raise ConfigError("warmup_ms and start_epoch_ms must be >= 0")
        if self.ws_queue_size < 1:
            raise ConfigError("ws_queue_size must be >= 1")
        known = {m.symbol for m in DEFAULT_MARKETS}
        for symbol in self.symbols:
            if symbol not in known:
                raise ConfigError(
                    f"symbol {symbol!r} is not a paper market",
                    hint=f"choose from {', '.join(sorted(known))}",
                )
        for name in self.data_files:
            if not Path(name).is_file():
                raise ConfigError(f"data file {name!r} does not exist")

    @property
    def replay(self) -> bool:
        """Tell whether the venue replays captures rather than generating a market."""
        return bool(self.data_files)

    def markets(self) -> tuple[MarketSpec, ...]:
        """Return the instruments served (spot and perp for every selected symbol)."""
        if not self.symbols:
            return DEFAULT_MARKETS
        return tuple(m for m in DEFAULT_MARKETS if m.symbol in self.symbols)
