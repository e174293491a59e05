"""Venues: how the services reach an exchange (ccxt objects, live or pointed at the paper venue)."""
