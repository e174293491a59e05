"""Shared pieces of the S3 tests: bundles, feature snapshots, a topology for a real Worker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import yaml

from chimera import names
from chimera.config.bundle import ConfigBundle, load_bundle
from chimera.domain.features import FeatureEvent, FeatureSet, signal_id_of

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_700_000_040_000  # Tuesday 2023-11-14 22:14 UTC


def bundle(**strategy: Any) -> ConfigBundle:
    """The shipped bundle with a deterministic model (p from the intercept) and ``strategy``."""
    base = load_bundle(ROOT / "config" / "bundle.yaml")
    risk = strategy.pop("risk", {})
    model = {"name": "logistic", "intercept": 2.0, "coefficients": {}, "timeout_ms": 50}
    model.update(strategy.pop("model", {}))
    raw = msgspec.to_builtins(base)
    raw["strategy"] = {**raw["strategy"], "rules": "", "model": model, **strategy}
    raw["risk"] = {**raw["risk"], **risk}
    return msgspec.convert(raw, ConfigBundle)


def snapshot(
    symbol: str = "BTCUSDT", t0: int = T0, price: str = "50000", **features: Any
) -> FeatureEvent:
    """A feature snapshot of ``symbol`` at ``t0`` (features default to a quiet bar)."""
    values = {"close": float(price), "natr": 0.2, "spread_bp": 1.0, **features}
    return FeatureEvent(
        signal_id=signal_id_of(symbol, t0),
        symbol=symbol,
        t0=t0,
        bar_open_time=t0 - 60_000,
        price=Decimal(price),
        features=msgspec.convert(values, FeatureSet),
        config_rev=0,
    )


def write_topology(directory: Path, symbols: list[str]) -> Path:
    """S3 bound on ``feat:events:<SYMBOL>``, configured from the store, hot-reloaded."""
    doc = {
        "version": 1,
        "symbols": symbols,
        "streams": [
            {"name": "feat:events:<SYMBOL>", "type": "chimera.domain.features:FeatureEvent"},
            {"name": names.SIG_EVENTS, "type": "chimera.domain.signals:Decision"},
            {"name": names.ORD_INTENTS, "type": "chimera.domain.orders:OrderIntent"},
            {"name": names.CFG_EVENTS, "type": "chimera.domain.config:ConfigActivated"},
        ],
        "config": {"loader": "chimera.config.store:worker_loader", "reload_stream": "cfg:events"},
        "bindings": [
            {
                "name": "s3-decide",
                "stream": "feat:events:<SYMBOL>",
                "handler": "handlers.s3_strategy.handler:decide_on_features",
                "ordering_key": "symbol",
                "concurrency": 8,
                "block_ms": 100,
                "retry_backoff_ms": 10,
                "retry_backoff_max_ms": 50,
            }
        ],
    }
    path = directory / "streams.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
