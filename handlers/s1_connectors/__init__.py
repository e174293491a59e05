"""S1 — Exchange Connectors (spec §A S1): market data into ``mkt:events:*``, realized funding,
1-minute bars, and the internal treasury-transfer endpoint."""
