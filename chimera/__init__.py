"""Chimera's trading product: domain types, stream and key names, venues and the paper venue.

The services in ``handlers/`` build on this package; ``chimera_workers`` (the framework) never
imports it.
"""
