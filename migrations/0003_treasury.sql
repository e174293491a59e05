-- S1 treasury transfers (spec S1 item 2, B8): one row per transfer_id, one event row per state
-- change. States: PENDING_APPROVAL (B8: waiting for a second operator) -> PENDING (cleared to
-- run) -> SUBMITTED (sent to the venue) -> SUCCEEDED | FAILED | UNKNOWN; UNKNOWN -> SUCCEEDED |
-- FAILED (found at the venue) or SUBMITTED (absent at the venue, re-sent); REJECTED: refused by
-- the treasury policy before anything was sent.
CREATE TABLE IF NOT EXISTS treasury_transfers (
    transfer_id        text           PRIMARY KEY,
    asset              text           NOT NULL,
    amount             numeric(38, 8) NOT NULL CHECK (amount > 0),
    from_account       text           NOT NULL CHECK (from_account IN ('SPOT', 'FUTURES')),
    to_account         text           NOT NULL CHECK (to_account IN ('SPOT', 'FUTURES')),
    state              text           NOT NULL CHECK (state IN ('PENDING_APPROVAL', 'PENDING',
                           'SUBMITTED', 'SUCCEEDED', 'FAILED', 'UNKNOWN', 'REJECTED')),
    requested_by       text           NOT NULL,
    approved_by        text,
    reason             text,
    message            text           NOT NULL DEFAULT '',
    venue_tran_id      text           UNIQUE,  -- the venue's tranId; one venue transfer, one row
    venue_submitted_ms bigint,                 -- venue clock at the last submission
    submit_count       integer        NOT NULL DEFAULT 0,
    fence              bigint         NOT NULL DEFAULT 0,  -- lock token of the last writer
    created_ms         bigint         NOT NULL,
    updated_ms         bigint         NOT NULL,
    approved_ms        bigint,
    CHECK (from_account <> to_account),
    -- B8: an approval must come from a different operator than the requester.
    CHECK (approved_by IS NULL OR approved_by <> requested_by)
);

CREATE INDEX IF NOT EXISTS treasury_transfers_daily ON treasury_transfers (asset, created_ms);
CREATE INDEX IF NOT EXISTS treasury_transfers_open ON treasury_transfers (state)
    WHERE state IN ('PENDING_APPROVAL', 'PENDING', 'SUBMITTED', 'UNKNOWN');

CREATE TABLE IF NOT EXISTS treasury_transfer_events (
    id            bigserial PRIMARY KEY,
    transfer_id   text      NOT NULL REFERENCES treasury_transfers (transfer_id),
    seq           integer   NOT NULL,
    from_state    text,               -- NULL for the row's creation
    to_state      text      NOT NULL,
    actor         text      NOT NULL,
    message       text      NOT NULL DEFAULT '',
    venue_tran_id text,
    at_ms         bigint    NOT NULL,
    emitted_ms    bigint,             -- when it reached ops:events; NULL = still to emit
    UNIQUE (transfer_id, seq)
);

CREATE INDEX IF NOT EXISTS treasury_transfer_events_unemitted ON treasury_transfer_events (id)
    WHERE emitted_ms IS NULL;
