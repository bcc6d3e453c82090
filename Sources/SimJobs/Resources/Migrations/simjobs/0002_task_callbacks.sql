-- Per-task callbacks: where to POST the task's events, which ones, and the receiver's signing
-- secret — sealed by the server (AES-GCM under STRATA_SECRET_KEY), never stored or returned in
-- clear. Kept apart from simjobs.tasks so that no task read ever carries it.
-- Locks: none beyond the new table; safe on a live database.

CREATE TABLE simjobs.task_callbacks (
    task_id       uuid        PRIMARY KEY REFERENCES simjobs.tasks (id) ON DELETE CASCADE,
    url           text        NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    events        text[]      NOT NULL CHECK (
                                  cardinality(events) >= 1 AND
                                  events <@ ARRAY['task.created', 'task.started', 'task.completed', 'task.failed',
                                                  'task.cancelled', 'task.timeout']::text[]),
    sealed_secret text        NOT NULL CHECK (sealed_secret LIKE 'v1.%'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE simjobs.task_callbacks IS 'Webhook subscriptions of tasks (Standard Webhooks, HMAC-SHA256 with the sealed secret)';
