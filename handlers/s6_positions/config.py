"""The config bundle an S6 handler runs on (RCU: the one its worker held when it started)."""

from __future__ import annotations

from chimera.config.bundle import ConfigBundle, load_bundle
from chimera_workers import Context
from chimera_workers.errors import ConfigError

_FILE_BUNDLE: list[ConfigBundle] = []


def s6_config(ctx: Context) -> tuple[ConfigBundle, int]:
    """Return the worker's bundle and revision (the bundle file as revision 0 without one)."""
    if isinstance(ctx.config, ConfigBundle):
        return ctx.config, ctx.config_rev
    if ctx.config is not None:
        raise ConfigError(
            f"S6 needs a ConfigBundle, the worker has {type(ctx.config).__name__}",
            hint="set `config: {loader: chimera.config.store:worker_loader}` in streams.yaml",
        )
    # No `config:` section: run on the bundle file as revision 0 (read once).
    if not _FILE_BUNDLE:
        _FILE_BUNDLE.append(load_bundle())
    return _FILE_BUNDLE[0], 0


__all__ = ["s6_config"]
