"""The trading side's settings: credentials, starting balances, latency model, persistence."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from chimera.paper.markets import DEFAULT_MARKETS, MarketSpec
from chimera.venues.settings import PAPER_API_KEY, PAPER_SECRET
from chimera_workers.errors import ConfigError

STATE_FILE = "trading_state.json"


class TradingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the paper venue's account starts and behaves."""

    api_key: str = PAPER_API_KEY
    secret: str = PAPER_SECRET
    # Starting balances of a fresh account (no saved state).
    spot_balances: dict[str, Decimal] = msgspec.field(
        default_factory=lambda: {
            "USDT": Decimal("100000"),
            "BTC": Decimal("1"),
            "ETH": Decimal("10"),
            "SOL": Decimal("100"),
        }
    )
    futures_wallet: Decimal = Decimal("100000")
    # Ack latency of order endpoints: fixed + uniform jitter from the seeded RNG (0: off).
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    seed: int = 7
    # Where the venue keeps its state across restarts ("" keeps it in memory only).
    state_dir: str = ".chimera/paper"
    save_debounce_ms: int = 200
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ConfigError("latency_ms and latency_jitter_ms must be >= 0")
        if self.save_debounce_ms < 0:
            raise ConfigError("save_debounce_ms must be >= 0")
        if any(v < 0 for v in self.spot_balances.values()) or self.futures_wallet < 0:
            raise ConfigError("starting balances must be >= 0")

    @property
    def state_path(self) -> Path | None:
        return Path(self.state_dir) / STATE_FILE if self.state_dir else None

    @classmethod
    def from_venue(cls, config: Any) -> TradingConfig:
        """Accept a ``TradingConfig`` or take seed, state_dir and markets from the venue's config.

        The venue's config (``PaperVenueConfig``) may carry a ``trading`` sub-config.
        """
        if isinstance(config, TradingConfig):
            return config
        if config is None:
            return cls()
        nested = getattr(config, "trading", None)
        base = nested if isinstance(nested, TradingConfig) else cls()
        changes: dict[str, Any] = {}
        for name in ("seed", "state_dir"):
            if hasattr(config, name):
                changes[name] = getattr(config, name)
        markets = getattr(config, "markets", None)
        if callable(markets):
            changes["markets"] = tuple(markets())
        return msgspec.structs.replace(base, **changes)
