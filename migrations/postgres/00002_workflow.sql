-- The command workflow of the Postgres store: incidents, the calls attached
-- to them and the departments working on them, tasks, supervision timers,
-- and the origin of each event (for the audit log only).
-- Each incident and task is kept whole in doc (json, so that the text is
-- kept as written); the other columns copy the fields that queries filter
-- and sort on, and are written with it.

-- +goose Up
ALTER TABLE events ADD COLUMN origin text NOT NULL DEFAULT '';

CREATE TABLE incidents (
    id         text        PRIMARY KEY,
    version    bigint      NOT NULL CHECK (version > 0),
    state      text        NOT NULL,
    grade      integer     NOT NULL,
    opened_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json        NOT NULL
);

CREATE INDEX incidents_opened ON incidents (opened_at DESC, id DESC);
CREATE INDEX incidents_state ON incidents (state, opened_at DESC, id DESC);

-- The departments of each incident (Incident.Departments), for listing an
-- incident to the departments that work on it.
CREATE TABLE incident_depts (
    dept        text NOT NULL,
    incident_id text NOT NULL,
    PRIMARY KEY (dept, incident_id)
);

CREATE INDEX incident_depts_incident ON incident_depts (incident_id);

-- The incident each call is attached to: a call belongs to one at most.
CREATE TABLE incident_calls (
    call_id     text PRIMARY KEY,
    incident_id text NOT NULL
);

CREATE INDEX incident_calls_incident ON incident_calls (incident_id);

CREATE TABLE tasks (
    id            text        PRIMARY KEY,
    incident_id   text        NOT NULL,
    dept          text        NOT NULL,
    state         text        NOT NULL,
    version       bigint      NOT NULL CHECK (version > 0),
    dispatched_at timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    doc           json        NOT NULL
);

CREATE INDEX tasks_deadline ON tasks (deadline, id);
CREATE INDEX tasks_dept ON tasks (dept, deadline, id);
CREATE INDEX tasks_incident ON tasks (incident_id, dispatched_at, id);
CREATE INDEX tasks_state ON tasks (state, deadline, id);

-- Supervision timers. A fired timer keeps its row, with fired_at set.
CREATE TABLE timers (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id  text        NOT NULL,
    kind     text        NOT NULL,
    due_at   timestamptz NOT NULL,
    attempt  integer     NOT NULL DEFAULT 0,
    fired_at timestamptz -- NULL until fired
);

CREATE INDEX timers_due ON timers (due_at, id) WHERE fired_at IS NULL;
CREATE INDEX timers_task ON timers (task_id, due_at, id) WHERE fired_at IS NULL;

-- +goose Down
DROP TABLE timers;
DROP TABLE tasks;
DROP TABLE incident_calls;
DROP TABLE incident_depts;
DROP TABLE incidents;
ALTER TABLE events DROP COLUMN origin;
