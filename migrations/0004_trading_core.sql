-- Issue C: the tables the decision and execution path shares (spec §A S2, S3, S4, S10; §C).
-- Times are epoch milliseconds of the venue clock; money and quantities exact numerics.
-- Later migrations add columns (with defaults) as services need them.

-- S10's store (used from issue C on): config bundles and the one active revision.
CREATE TABLE IF NOT EXISTS config_bundles (
    rev          bigserial   PRIMARY KEY,
    name         text        NOT NULL,
    body         jsonb       NOT NULL,          -- the validated ConfigBundle
    source       text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS config_active (
    id           boolean     PRIMARY KEY DEFAULT true CHECK (id),   -- exactly one row
    rev          bigint      NOT NULL REFERENCES config_bundles (rev),
    activated_by text        NOT NULL DEFAULT '',
    activated_at timestamptz NOT NULL DEFAULT now()
);

-- S2 writes a signal per feature snapshot; S3 fills in its decision.
CREATE TABLE IF NOT EXISTS signals (
    signal_id    text        PRIMARY KEY,       -- idempotency key (spec §0)
    symbol       text        NOT NULL,
    t0           bigint      NOT NULL,          -- venue time of the features
    features     jsonb       NOT NULL,
    config_rev   bigint      NOT NULL,
    decision     jsonb,                         -- S3: {action, reason, model_p, config_rev, ...}
    decided_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS signals_symbol_t0 ON signals (symbol, t0);

-- Every service's notable events (FEATURE_RECOMPUTE, TP_SL_PLACED, CANCEL, RECONCILE_*, ...).
CREATE TABLE IF NOT EXISTS strategy_events (
    event_id     text        PRIMARY KEY,       -- deterministic per cause, so writes are idempotent
    kind         text        NOT NULL,
    symbol       text,
    ref_id       text,                          -- intent_id / signal_id / pos_id it concerns
    body         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ts_ms        bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS strategy_events_kind_ts ON strategy_events (kind, ts_ms);

-- S4: one row per exchange-level order, updated through every state.
CREATE TABLE IF NOT EXISTS orders (
    client_order_id text        PRIMARY KEY,    -- derived from intent_id (+ slice / leg)
    intent_id       text        NOT NULL,
    market          text        NOT NULL CHECK (market IN ('FUT', 'SPOT')),
    symbol          text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      text        NOT NULL,
    purpose         text        NOT NULL,
    status          text        NOT NULL,
    qty             numeric     NOT NULL,
    price           numeric,
    trigger_price   numeric,
    reduce_only     boolean     NOT NULL DEFAULT false,
    filled_qty      numeric     NOT NULL DEFAULT 0,
    avg_price       numeric,
    venue_order_id  text,
    pos_id          text,
    signal_id       text,
    message         text        NOT NULL DEFAULT '',
    created_ts_ms   bigint      NOT NULL,
    updated_ts_ms   bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_intent ON orders (intent_id);
CREATE INDEX IF NOT EXISTS orders_open ON orders (status) WHERE status IN ('PENDING', 'NEW', 'PARTIALLY_FILLED', 'UNKNOWN');

-- S4: one row per execution of our orders, with execution quality at send time.
CREATE TABLE IF NOT EXISTS fills (
    trade_id        text        NOT NULL,
    symbol          text        NOT NULL,
    client_order_id text        NOT NULL REFERENCES orders (client_order_id),
    intent_id       text        NOT NULL,
    side            text        NOT NULL,
    price           numeric     NOT NULL,
    qty             numeric     NOT NULL,
    fee             numeric     NOT NULL,
    fee_asset       text        NOT NULL,
    is_maker        boolean     NOT NULL,
    mid_at_send     numeric,
    top3            jsonb,
    slippage_bps    numeric,
    ts_ms           bigint      NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX IF NOT EXISTS fills_order ON fills (client_order_id);
