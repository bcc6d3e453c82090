-- The platform's job queue (one mechanism for background work and for simjobs' tasks).
-- A job is claimed with FOR UPDATE SKIP LOCKED in priority, then run_at, then id order, runs
-- under a lease (a token and an expiry the worker extends by heartbeat), and every change of a
-- running job is guarded by that token, so a job rescued from a dead worker cannot be
-- completed by it. Locks: none beyond the new objects; safe on a live database.

CREATE TABLE strata.jobs (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue               text        NOT NULL DEFAULT 'default' CHECK (queue ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    kind                text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 200),
    args                jsonb       NOT NULL DEFAULT '{}',
    state               text        NOT NULL DEFAULT 'available'
                                    CHECK (state IN ('available', 'running', 'completed', 'cancelled', 'discarded')),
    priority            smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    run_at              timestamptz NOT NULL DEFAULT now(),
    attempt             integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts        integer     NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 1000),
    lease_token         uuid,
    lease_expires_at    timestamptz,
    attempted_at        timestamptz,
    attempted_by        text,
    finalized_at        timestamptz,
    cancel_requested_at timestamptz,
    unique_key          text        CHECK (length(unique_key) BETWEEN 1 AND 500),
    errors              jsonb       NOT NULL DEFAULT '[]',
    result              jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'running') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK ((state IN ('completed', 'cancelled', 'discarded')) = (finalized_at IS NOT NULL))
);

COMMENT ON TABLE strata.jobs IS 'Background jobs: claimed with SKIP LOCKED, leased, retried with backoff, kept after they end for inspection';
COMMENT ON COLUMN strata.jobs.priority IS '0 (critical) to 3 (low); claims take lower numbers first, then older run_at';

-- What workers claim next.
CREATE INDEX jobs_claim ON strata.jobs (queue, priority, run_at, id) WHERE state = 'available';
-- Leases to rescue.
CREATE INDEX jobs_running_lease ON strata.jobs (lease_expires_at) WHERE state = 'running';
-- One live job per (queue, kind, unique_key).
CREATE UNIQUE INDEX jobs_unique_live ON strata.jobs (queue, kind, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running');

-- Schedules fire at most once per slot, across every server.
CREATE TABLE strata.job_schedules (
    name          text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    last_slot_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
