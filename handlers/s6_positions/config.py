"""The config bundle an S6 handler runs on (RCU: the one its worker held when it started)."""

from __future__ import annotations

from chimera.config.bundle import ConfigBundle, worker_bundle
from chimera_workers import Context


def s6_config(ctx: Context) -> tuple[ConfigBundle, int]:
    """Return the worker's bundle and revision (the bundle file as revision 0 without one)."""
    return worker_bundle(ctx.config, ctx.config_rev, "S6")


__all__ = ["s6_config"]
