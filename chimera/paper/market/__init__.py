"""The paper venue's market side: a replayed capture or a synthetic market, and its hub."""
