"""S2 — Feature Generator (spec §A S2).

Consumes ``mkt:events:{perp}:<SYMBOL>`` and publishes one feature snapshot per completed
1-minute bar (``signals`` row + ``feat:events:<symbol>``); a daily scheduled run labels the market
regime (``prod:{regime}:market:state``); ``POST /features/recompute`` backfills features from
stored bars. See docs/s2-features.md.
"""
