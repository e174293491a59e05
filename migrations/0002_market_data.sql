-- S1 market data (issue B): 1-minute bars from trades, and realized funding.

-- One row per (market, symbol, minute); S1 upserts, never overwriting a complete bar with an
-- incomplete one. Times are epoch milliseconds (venue time); prices and sizes exact numerics.
CREATE TABLE IF NOT EXISTS bars_1m (
    venue_kind      text        NOT NULL CHECK (venue_kind IN ('spot', 'perp')),
    symbol          text        NOT NULL,
    open_time       bigint      NOT NULL,
    open            numeric     NOT NULL,
    high            numeric     NOT NULL,
    low             numeric     NOT NULL,
    close           numeric     NOT NULL,
    volume          numeric     NOT NULL,
    quote_volume    numeric     NOT NULL,
    trade_count     integer     NOT NULL,
    first_trade_id  bigint      NOT NULL,
    last_trade_id   bigint      NOT NULL,
    complete        boolean     NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_kind, symbol, open_time)
);

-- Spec §A S1: funding_records (symbol, funding_time, rate, amount_usdt), one row per settlement.
-- amount_usdt is this account's funding payment for that settlement (positive received,
-- negative paid) from the venue's income history; NULL when the venue did not report one.
CREATE TABLE IF NOT EXISTS funding_records (
    symbol        text        NOT NULL,
    funding_time  bigint      NOT NULL,
    rate          numeric     NOT NULL,
    amount_usdt   numeric,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, funding_time)
);
