-- The framework demo's table (issue A); idempotent writes key on (symbol, seq).
CREATE TABLE IF NOT EXISTS demo_ticks (
    symbol      text    NOT NULL,
    seq         bigint  NOT NULL,
    price_cents bigint  NOT NULL,
    ts_ms       bigint  NOT NULL,
    PRIMARY KEY (symbol, seq)
);
