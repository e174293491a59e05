-- S5 (spec §A S5, flow B4): alerts the reconciler (and later services) raise. The id is
-- deterministic per cause, so a rerun that finds the same problem does not add a second row.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id    text        PRIMARY KEY,
    severity    text        NOT NULL CHECK (severity IN ('INFO', 'WARN', 'CRITICAL')),
    kind        text        NOT NULL,
    symbol      text,
    ref_id      text,
    body        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ts_ms       bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts_ms);
