"""S1's settings: which symbols and markets, book depth, throttling, batching, retention cap."""

from __future__ import annotations

import re

import msgspec

from chimera.names import MarketKind
from chimera_workers.errors import ConfigError

_SYMBOL = re.compile(r"[A-Z0-9]{2,30}")
_DEPTH_SPEEDS = ("", "100ms", "250ms", "500ms", "0ms", "1000ms")


class ConnectorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How ``chimera connectors run`` behaves.

    ``depth_speed``: the diff stream's update speed suffix (``btcusdt@depth@100ms``; empty for
    Binance's default). ``stream_maxlen``: the ``MAXLEN ~`` cap of every XADD (None: no cap; by
    default the stream's ``retention.maxlen`` from ``streams.yaml``).
    """

    symbols: tuple[str, ...] = ("BTCUSDT",)
    kinds: tuple[MarketKind, ...] = ("spot", "perp")
    depth_levels: int = 10
    depth_speed: str = "100ms"
    snapshot_limit: int = 1000
    debounce_ms: int = 0
    funding: bool = True
    batch_size: int = 500
    flush_ms: int = 20
    default_maxlen: int | None = 100_000
    metrics_interval_s: float = 5.0
    ping_interval_s: float = 5.0
    max_backfill: int = 50_000
    migrate: bool = True

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("no symbols configured", hint="pass --symbols BTCUSDT,ETHUSDT")
        for symbol in self.symbols:
            if not _SYMBOL.fullmatch(symbol):
                raise ConfigError(
                    f"symbol {symbol!r} is not a Binance symbol",
                    hint="use upper-case letters and digits, e.g. BTCUSDT",
                )
        if not self.kinds or any(k not in ("spot", "perp") for k in self.kinds):
            raise ConfigError(f"kinds {self.kinds!r} are invalid", hint="use spot, perp or both")
        if self.depth_speed not in _DEPTH_SPEEDS:
            raise ConfigError(
                f"depth_speed {self.depth_speed!r} is not a Binance depth speed",
                hint=f"one of {', '.join(repr(s) for s in _DEPTH_SPEEDS)}",
            )
        if not 1 <= self.depth_levels <= 1000:
            raise ConfigError(f"depth_levels={self.depth_levels} is out of range (1..1000)")
        if self.debounce_ms < 0 or self.batch_size < 1 or self.flush_ms < 1:
            raise ConfigError("debounce_ms must be >= 0, batch_size and flush_ms >= 1")


def parse_csv(text: str, what: str) -> tuple[str, ...]:
    """Split a comma-separated CLI value into its non-empty items."""
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise ConfigError(f"--{what} is empty", hint=f"give a comma-separated list of {what}")
    return items
