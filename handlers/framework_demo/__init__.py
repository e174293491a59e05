"""The framework demo (issue A): not a spec service.

Producers write ``Tick`` events per symbol; ``record_tick`` stores each once in PostgreSQL and
emits a ``TickRecorded``; ``count_recorded`` keeps idempotent per-symbol counts in Redis; a
small share of ticks is poison and ends in the dead-letter stream. The trading demo of
issue B replaces it as ``make demo``.
"""
