-- Calls and the global event log of the Postgres store.
-- event_counter is the single row from which every transaction allocates its
-- seqs, as late as possible: its row lock orders allocation with commit, so
-- seq order equals commit-visibility order and a rolled-back transaction
-- leaves no gap.

-- +goose Up
CREATE TABLE event_counter (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    last bigint  NOT NULL CHECK (last >= 0)
);
INSERT INTO event_counter (id, last) VALUES (true, 0);

CREATE TABLE events (
    seq   bigint      PRIMARY KEY CHECK (seq > 0),
    type  text        NOT NULL,
    at    timestamptz NOT NULL,
    actor text        NOT NULL DEFAULT '',
    data  jsonb       NOT NULL
);

CREATE TABLE calls (
    id              text             PRIMARY KEY,
    seq             bigint           NOT NULL UNIQUE REFERENCES events (seq),
    received_at     timestamptz      NOT NULL,
    recorded_at     timestamptz      NOT NULL,
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    address         text             NOT NULL DEFAULT '',
    category        text             NOT NULL,
    description     text             NOT NULL DEFAULT '',
    urgent          boolean          NOT NULL DEFAULT false,
    caller          text             NOT NULL DEFAULT '',
    actor           text             NOT NULL DEFAULT '',
    idempotency_key text             UNIQUE, -- NULL when the client sent none
    request_hash    text             NOT NULL DEFAULT ''
);

CREATE INDEX calls_received ON calls (received_at DESC, id DESC);
CREATE INDEX calls_category ON calls (category, received_at DESC, id DESC);
CREATE INDEX calls_lat_lon ON calls (lat, lon);

-- +goose Down
DROP TABLE calls;
DROP TABLE events;
DROP TABLE event_counter;
