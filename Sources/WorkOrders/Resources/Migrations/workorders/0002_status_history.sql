-- Every status change of a work order, kept by the platform's StatusHistory with the change
-- that made it (who, why, under which request, when). Existing orders start with their current
-- status, as of their creation.
-- Locks: creates a table and reads work_orders once; safe on a live database.

CREATE TABLE workorders.status_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_id text        NOT NULL,
    from_status text        CHECK (from_status IN ('PLANNED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    to_status   text        NOT NULL CHECK (to_status IN ('PLANNED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    reason      text        CHECK (length(reason) <= 500),
    actor       text,
    request_id  text,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX status_history_resource ON workorders.status_history (resource_id, id);

INSERT INTO workorders.status_history (resource_id, to_status, reason, changed_at)
SELECT id::text, status, 'recorded when the history began', created_at FROM workorders.work_orders ORDER BY created_at, id;
