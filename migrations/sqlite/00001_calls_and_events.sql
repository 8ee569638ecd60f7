-- Calls and the global event log of the embedded SQLite store.
-- Times are INTEGER Unix nanoseconds (UTC); event data is JSON text.

-- +goose Up
CREATE TABLE events (
    seq   INTEGER PRIMARY KEY,
    type  TEXT    NOT NULL,
    at    INTEGER NOT NULL,
    actor TEXT    NOT NULL DEFAULT '',
    data  TEXT    NOT NULL CHECK (json_valid(data))
) STRICT;

CREATE TABLE calls (
    id              TEXT    PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE REFERENCES events (seq),
    received_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    lat             REAL    NOT NULL,
    lon             REAL    NOT NULL,
    address         TEXT    NOT NULL DEFAULT '',
    category        TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    urgent          INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1)),
    caller          TEXT    NOT NULL DEFAULT '',
    actor           TEXT    NOT NULL DEFAULT '',
    idempotency_key TEXT    UNIQUE, -- NULL when the client sent none
    request_hash    TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX calls_received ON calls (received_at DESC, id DESC);
CREATE INDEX calls_category ON calls (category, received_at DESC, id DESC);
CREATE INDEX calls_lat_lon ON calls (lat, lon);

-- +goose Down
DROP TABLE calls;
DROP TABLE events;
