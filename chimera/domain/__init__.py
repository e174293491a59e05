"""Shared domain types: the events and records the services exchange (market data first).

Modules: ``market`` (S1's market events), ``metrics`` (entries on ``metrics:events``). Later
stages add orders, fills and positions beside them.
"""
