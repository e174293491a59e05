"""The paper venue: a Binance-compatible exchange simulator (``chimera venue serve``).

It speaks the subset of Binance's spot and USDⓈ-M REST and websocket protocol that Chimera uses,
so the services trade on it through ccxt's own ``binance`` / ``binanceusdm`` classes. It owns the
venue state (balances, orders, positions) and keeps it across restarts of the services.
"""
