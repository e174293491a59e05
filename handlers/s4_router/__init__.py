"""S4 — Order Router (spec §A S4): intents in, venue orders out, every state recorded.

One ``Router`` serves the intent stream (``ord:{intents}``) and ``POST /orders`` / ``POST /cancel``.
See docs/s4-router.md.
"""
