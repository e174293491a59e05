"""A config bundle: one YAML document holding every service's settings, validated as a whole.

Today it has the treasury section; later stages add sections and keep bundles in PostgreSQL
(``config_bundles``, promoted into ``config_active``). A bundle file is untrusted input: unknown
keys and wrong types are refused with the path of the offending value.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from chimera.config.features import FeaturesConfig
from chimera.config.positions import PositionsConfig
from chimera.config.reconcile import ReconcileConfig
from chimera.config.risk import RiskConfig
from chimera.config.router import RouterConfig
from chimera.config.strategy import StrategyConfig
from chimera.config.treasury import TreasuryPolicy
from chimera_workers.errors import ConfigError

DEFAULT_BUNDLE_PATH = "config/bundle.yaml"
BUNDLE_ENV = "CHIMERA_CONFIG_BUNDLE"


class ConfigBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every service's configuration, one revision of it."""

    rev: str = "0"
    treasury: TreasuryPolicy = TreasuryPolicy()
    features: FeaturesConfig = FeaturesConfig()
    strategy: StrategyConfig = StrategyConfig()
    risk: RiskConfig = RiskConfig()
    router: RouterConfig = RouterConfig()
    positions: PositionsConfig = PositionsConfig()
    reconcile: ReconcileConfig = ReconcileConfig()


def parse_bundle(raw: bytes | str, *, source: str = "<bundle>") -> ConfigBundle:
    """Decode and validate a bundle from YAML; raise ``ConfigError`` naming ``source`` and path."""
    try:
        return msgspec.yaml.decode(raw, type=ConfigBundle)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(
            f"config bundle {source} is invalid: {exc}",
            hint="fix the value at that path; see config/bundle.yaml for the shape",
        ) from exc


def bundle_path(environ: dict[str, str] | None = None) -> Path:
    """Return where the active bundle file is: ``$CHIMERA_CONFIG_BUNDLE`` or the default."""
    env = os.environ if environ is None else environ
    return Path(env.get(BUNDLE_ENV) or DEFAULT_BUNDLE_PATH)


def load_bundle(path: Path | str | None = None) -> ConfigBundle:
    """Read and validate the bundle at ``path`` (default: ``bundle_path()``)."""
    target = Path(path) if path is not None else bundle_path()
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read config bundle {target}: {exc.strerror or exc}",
            hint=f"create it, or point ${BUNDLE_ENV} at a bundle file",
        ) from exc
    return parse_bundle(raw, source=str(target))


_FILE_BUNDLE: list[ConfigBundle] = []


def worker_bundle(config: object, rev: int, service: str) -> tuple[ConfigBundle, int]:
    """Return the bundle and revision a handler runs on: its worker's (``ctx.config``,
    ``ctx.config_rev``), or — without a ``config:`` section — the bundle file as revision 0,
    read once per process. ``service`` names the caller in the error for another config type.
    """
    if isinstance(config, ConfigBundle):
        return config, rev
    if config is not None:
        raise ConfigError(
            f"{service} needs a ConfigBundle, the worker has {type(config).__name__}",
            hint="set `config: {loader: chimera.config.store:worker_loader}` in streams.yaml",
        )
    if not _FILE_BUNDLE:
        _FILE_BUNDLE.append(load_bundle())
    return _FILE_BUNDLE[0], 0


__all__ = [
    "BUNDLE_ENV",
    "DEFAULT_BUNDLE_PATH",
    "ConfigBundle",
    "bundle_path",
    "load_bundle",
    "parse_bundle",
    "worker_bundle",
]
