-- The command workflow of the embedded SQLite store: incidents, the calls
-- attached to them and the departments working on them, tasks, supervision
-- timers, and the origin of each event (for the audit log only).
-- Each incident and task is kept whole as JSON in doc; the other columns copy
-- the fields that queries filter and sort on, and are written with it.
-- Times are INTEGER Unix nanoseconds (UTC).

-- +goose Up
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';

CREATE TABLE incidents (
    id         TEXT    PRIMARY KEY,
    version    INTEGER NOT NULL CHECK (version > 0),
    state      TEXT    NOT NULL,
    grade      INTEGER NOT NULL,
    opened_at  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL CHECK (json_valid(doc))
) STRICT;

CREATE INDEX incidents_opened ON incidents (opened_at DESC, id DESC);
CREATE INDEX incidents_state ON incidents (state, opened_at DESC, id DESC);

-- The departments of each incident (Incident.Departments), for listing an
-- incident to the departments that work on it.
CREATE TABLE incident_depts (
    dept        TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    PRIMARY KEY (dept, incident_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX incident_depts_incident ON incident_depts (incident_id);

-- The incident each call is attached to: a call belongs to one at most.
CREATE TABLE incident_calls (
    call_id     TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL
) STRICT;

CREATE INDEX incident_calls_incident ON incident_calls (incident_id);

CREATE TABLE tasks (
    id            TEXT    PRIMARY KEY,
    incident_id   TEXT    NOT NULL,
    dept          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    version       INTEGER NOT NULL CHECK (version > 0),
    dispatched_at INTEGER NOT NULL,
    deadline      INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    doc           TEXT    NOT NULL CHECK (json_valid(doc))
) STRICT;

CREATE INDEX tasks_deadline ON tasks (deadline, id);
CREATE INDEX tasks_dept ON tasks (dept, deadline, id);
CREATE INDEX tasks_incident ON tasks (incident_id, dispatched_at, id);
CREATE INDEX tasks_state ON tasks (state, deadline, id);

-- Supervision timers. A fired timer keeps its row, with fired_at set.
CREATE TABLE timers (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    due_at   INTEGER NOT NULL,
    attempt  INTEGER NOT NULL DEFAULT 0,
    fired_at INTEGER -- NULL until fired
) STRICT;

CREATE INDEX timers_due ON timers (due_at, id) WHERE fired_at IS NULL;
CREATE INDEX timers_task ON timers (task_id, due_at, id) WHERE fired_at IS NULL;

-- +goose Down
DROP TABLE timers;
DROP TABLE tasks;
DROP TABLE incident_calls;
DROP TABLE incident_depts;
DROP TABLE incidents;
ALTER TABLE events DROP COLUMN origin;
