"""S3 — Strategy Engine (spec §A S3): gates, rules, model, decision, entry intent.

``handler.decide_on_features`` is bound to ``feat:events:<SYMBOL>``; ``api.router`` serves
``POST /decide``. Both run ``engine.DecisionEngine``. See docs/s3-strategy.md.
"""
