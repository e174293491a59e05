"""Chimera's Redis-Streams consumer-worker runtime.

The framework binds streams to handler functions through ``streams.yaml``. It knows nothing
about trading: services live in ``handlers/`` and are reached only through dotted paths.
"""

from chimera_workers.context import Context
from chimera_workers.errors import ChimeraError, Retry, should_retry

__all__ = ["ChimeraError", "Context", "Retry", "should_retry"]
