"""The paper venue's aiohttp server: Binance's REST paths and websocket streams."""
