"""S5 — the reconciler (spec §A S5, flow B4): the venue's open orders against the DB's ``orders``.

Only the ORDERS scope is built; positions (``positions_snapshots``) are not reconciled yet.
"""
