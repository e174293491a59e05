"""Chimera's services, one package per section of the hop-by-hop spec.

Handlers are bound to streams only through dotted paths in ``streams.yaml``; the framework
(``chimera_workers``) never imports this package.
"""
