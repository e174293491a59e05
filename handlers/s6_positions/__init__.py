"""S6 — Position Manager (spec §A S6); this stage: the entry step of B1 and the risk release of B7.

``handlers.s6_positions.entry:on_order_result`` is bound to ``ord:{results}``: every leg of a
FUT entry that filled gets its reduce-only stop-loss and take-profit (``protection``) at the
entry's pinned, ATR- and regime-based prices; an entry that ended with nothing filled
(``ends``) gives S3's risk reservation back.
"""
