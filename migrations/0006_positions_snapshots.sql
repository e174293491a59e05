-- S6 (spec §A S6, flows B3/B4): a snapshot of a position on every manage tick and lifecycle
-- event; S5 reads the latest one per position. snapshot_id is deterministic per cause.
CREATE TABLE IF NOT EXISTS positions_snapshots (
    snapshot_id   text        PRIMARY KEY,
    pos_id        text        NOT NULL,
    symbol        text        NOT NULL,
    side          text        NOT NULL CHECK (side IN ('buy', 'sell')),
    status        text        NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    qty           numeric     NOT NULL CHECK (qty >= 0),
    opened_qty    numeric     NOT NULL,
    closed_qty    numeric     NOT NULL,
    entry_price   numeric,
    mark_price    numeric,
    move_r        numeric,
    roe           numeric,
    liq_price     numeric,
    liq_distance  numeric,
    sl_level      integer     NOT NULL DEFAULT 0,
    sl_price      numeric,
    tp_step       integer     NOT NULL DEFAULT 0,
    add_on_count  integer     NOT NULL DEFAULT 0,
    source        text        NOT NULL CHECK (source IN ('TICK', 'EVENT', 'API', 'RECONCILE')),
    reason        text        NOT NULL DEFAULT '',
    config_rev    bigint      NOT NULL DEFAULT 0,
    ts_ms         bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS positions_snapshots_latest ON positions_snapshots (pos_id, ts_ms DESC);

-- The orders of a position other than its entry (add-ons, stops, take-profits, exits).
CREATE INDEX IF NOT EXISTS orders_pos ON orders (pos_id) WHERE pos_id IS NOT NULL;
