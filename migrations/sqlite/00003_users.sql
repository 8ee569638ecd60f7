-- Dashboard users of the embedded SQLite store: sign-in names, roles,
-- password hashes and the session version that ends their sessions.
-- Times are INTEGER Unix nanoseconds (UTC).

-- +goose Up
CREATE TABLE users (
    name            TEXT    PRIMARY KEY,
    display_name    TEXT    NOT NULL DEFAULT '',
    role            TEXT    NOT NULL CHECK (role IN ('leader', 'agent', 'admin', 'dept')),
    dept            TEXT    NOT NULL DEFAULT '',
    password_hash   TEXT    NOT NULL,
    session_version INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

-- +goose Down
DROP TABLE users;
