-- Dashboard users of the Postgres store: sign-in names, roles, password
-- hashes and the session version that ends their sessions.

-- +goose Up
CREATE TABLE users (
    name            text        PRIMARY KEY,
    display_name    text        NOT NULL DEFAULT '',
    role            text        NOT NULL CHECK (role IN ('leader', 'agent', 'admin', 'dept')),
    dept            text        NOT NULL DEFAULT '',
    password_hash   text        NOT NULL,
    session_version bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    disabled        boolean     NOT NULL DEFAULT false
);

-- +goose Down
DROP TABLE users;
