"""S5 — the reconciler (spec §A S5, flow B4): the venue's open orders and FUT positions against
the DB's ``orders`` ledger, the start-up entry gate and the health-degrade signal."""
