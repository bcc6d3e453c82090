-- Workflow automation store (seed 004, Hetumind's `hetumind-ddl.sql` core): workflows with
-- their nodes and connections as JSONB, the versions of their graphs, tags, executions with
-- their data and metadata, exact statistics, and the raw insight points (monthly partitions).
-- Decisions over the real DDL (its inconsistencies are not copied):
-- - keys are UUID v7 made by the application; `kind`, never `type`;
-- - statuses and modes are the code's integer enums, each under a CHECK: workflows Draft 1,
--   Disabled 99, Active 100; executions New 1, Running 10, Waiting 11, Cancelled 97, Crashed 98,
--   Failed 99, Success 100; modes manual 1, trigger 2, webhook 3, retry 4;
-- - executions carry the code's columns (finished_at, triggered_by, uuid retry_of and
--   retry_success_id), not the DDL's finished/stopped_at/varchar ones;
-- - the workflow's current graph version is `version_id` (the DDL's `version uuid`); `version`
--   is the row's edit counter (the ETag), as on every row the API updates;
-- - created_by/updated_by are the platform's actor names (text), filled by the service;
--   updated_at is kept by trigger;
-- - `workflows` and `executions` are views under the seed's names, so its two queries run.
-- Locks: none beyond the new objects; safe on a live database.

CREATE SCHEMA IF NOT EXISTS workflows;

CREATE FUNCTION workflows.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE workflows.workflow_entity (
    id                uuid        PRIMARY KEY,
    name              text        NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    status            integer     NOT NULL DEFAULT 1 CHECK (status IN (1, 99, 100)),
    nodes             jsonb       NOT NULL CHECK (jsonb_typeof(nodes) = 'array'),
    connections       jsonb       NOT NULL CHECK (jsonb_typeof(connections) = 'array'),
    settings          jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    static_data       jsonb,
    pin_data          jsonb       NOT NULL DEFAULT '{}',
    meta              jsonb       NOT NULL DEFAULT '{}',
    -- The graph version the workflow holds now (workflow_history.version_id).
    version_id        uuid        NOT NULL,
    -- The graph version executions run while the workflow is active.
    active_version_id uuid,
    trigger_count     bigint      NOT NULL DEFAULT 0 CHECK (trigger_count >= 0),
    is_archived       boolean     NOT NULL DEFAULT false,
    version           bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at        timestamptz NOT NULL DEFAULT now(),
    created_by        text        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text        NOT NULL,
    -- An archived workflow is never active; an active one runs a pinned version.
    CHECK (NOT (is_archived AND status = 100)),
    CHECK (status <> 100 OR active_version_id IS NOT NULL)
);
CREATE INDEX workflow_entity_name_idx ON workflows.workflow_entity (name);
CREATE INDEX workflow_entity_created_idx ON workflows.workflow_entity (created_at DESC, id DESC);
CREATE TRIGGER workflow_entity_touch BEFORE UPDATE ON workflows.workflow_entity
    FOR EACH ROW EXECUTE FUNCTION workflows.touch_updated_at();

-- Every graph a workflow held: a new row whenever its nodes or connections change.
CREATE TABLE workflows.workflow_history (
    version_id   uuid        PRIMARY KEY,
    workflow_id  uuid        NOT NULL REFERENCES workflows.workflow_entity (id) ON DELETE CASCADE,
    -- 1, 2, 3 … per workflow.
    number       integer     NOT NULL CHECK (number >= 1),
    authors      text        NOT NULL,
    nodes        jsonb       NOT NULL,
    connections  jsonb       NOT NULL,
    -- The version this one restored, when it was made by a restore.
    restored_from uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL,
    UNIQUE (workflow_id, number)
);

ALTER TABLE workflows.workflow_entity
    ADD FOREIGN KEY (version_id) REFERENCES workflows.workflow_history (version_id) DEFERRABLE INITIALLY DEFERRED,
    ADD FOREIGN KEY (active_version_id) REFERENCES workflows.workflow_history (version_id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX workflow_entity_version_idx ON workflows.workflow_entity (version_id);
CREATE INDEX workflow_entity_active_version_idx ON workflows.workflow_entity (active_version_id) WHERE active_version_id IS NOT NULL;

CREATE TABLE workflows.tag_entity (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 24),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text        NOT NULL
);

CREATE TABLE workflows.workflow_tag (
    workflow_id uuid NOT NULL REFERENCES workflows.workflow_entity (id) ON DELETE CASCADE,
    tag_id      uuid NOT NULL REFERENCES workflows.tag_entity (id) ON DELETE CASCADE,
    PRIMARY KEY (workflow_id, tag_id)
);
CREATE INDEX workflow_tag_tag_idx ON workflows.workflow_tag (tag_id);

CREATE TABLE workflows.execution_entity (
    id               uuid        PRIMARY KEY,
    workflow_id      uuid        NOT NULL REFERENCES workflows.workflow_entity (id) ON DELETE CASCADE,
    -- The graph version this execution runs.
    version_id       uuid        NOT NULL REFERENCES workflows.workflow_history (version_id),
    status           integer     NOT NULL DEFAULT 1 CHECK (status IN (1, 10, 11, 97, 98, 99, 100)),
    mode             integer     NOT NULL CHECK (mode IN (1, 2, 3, 4)),
    triggered_by     text,
    dedup_key        text        CHECK (length(dedup_key) BETWEEN 1 AND 200),
    retry_of         uuid        REFERENCES workflows.execution_entity (id) ON DELETE SET NULL,
    retry_success_id uuid        REFERENCES workflows.execution_entity (id) ON DELETE SET NULL,
    -- The platform queue's job that runs it, and the worker holding its lease.
    job_id           bigint,
    worker_id        text,
    cancel_requested_at timestamptz,
    error_message    text        CHECK (length(error_message) <= 10000),
    started_at       timestamptz,
    finished_at      timestamptz,
    wait_till        timestamptz,
    logical_deletion timestamptz,
    -- Kept from pruning (an annotated or pinned execution).
    pinned           boolean     NOT NULL DEFAULT false,
    version          bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at),
    CHECK ((status IN (97, 98, 99, 100)) = (finished_at IS NOT NULL)),
    CHECK ((status = 11) = (wait_till IS NOT NULL))
);
-- The seed's statistics read: a workflow's executions by start time.
CREATE INDEX execution_entity_workflow_started_idx ON workflows.execution_entity (workflow_id, started_at)
    WHERE started_at IS NOT NULL AND logical_deletion IS NULL;
CREATE INDEX execution_entity_workflow_created_idx ON workflows.execution_entity (workflow_id, created_at DESC, id DESC);
CREATE INDEX execution_entity_created_idx ON workflows.execution_entity (created_at DESC, id DESC);
CREATE INDEX execution_entity_finished_idx ON workflows.execution_entity (finished_at, status)
    WHERE finished_at IS NOT NULL AND logical_deletion IS NULL;
CREATE INDEX execution_entity_wait_idx ON workflows.execution_entity (wait_till) WHERE wait_till IS NOT NULL AND logical_deletion IS NULL;
CREATE INDEX execution_entity_deleted_idx ON workflows.execution_entity (logical_deletion) WHERE logical_deletion IS NOT NULL;
CREATE INDEX execution_entity_job_idx ON workflows.execution_entity (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX execution_entity_retry_of_idx ON workflows.execution_entity (retry_of) WHERE retry_of IS NOT NULL;
CREATE INDEX execution_entity_retry_success_idx ON workflows.execution_entity (retry_success_id) WHERE retry_success_id IS NOT NULL;
CREATE INDEX execution_entity_version_idx ON workflows.execution_entity (version_id);
-- One unfinished execution per workflow and dedup key: a second start finds the first.
CREATE UNIQUE INDEX execution_entity_dedup_idx ON workflows.execution_entity (workflow_id, dedup_key)
    WHERE dedup_key IS NOT NULL AND status IN (1, 10, 11);
CREATE TRIGGER execution_entity_touch BEFORE UPDATE ON workflows.execution_entity
    FOR EACH ROW EXECUTE FUNCTION workflows.touch_updated_at();

-- 1:1 with its execution: the input, the graph it ran and its result.
CREATE TABLE workflows.execution_data (
    execution_id  uuid   PRIMARY KEY REFERENCES workflows.execution_entity (id) ON DELETE CASCADE,
    input         jsonb  NOT NULL DEFAULT '{}',
    workflow_data jsonb  NOT NULL,
    -- The result as JSON text, or its gzip in data_compressed when large.
    data            text,
    data_compressed bytea,
    CHECK (data IS NULL OR data_compressed IS NULL)
);

CREATE TABLE workflows.execution_metadata (
    id           uuid NOT NULL PRIMARY KEY,
    execution_id uuid NOT NULL REFERENCES workflows.execution_entity (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    value        text NOT NULL CHECK (length(value) <= 10000),
    UNIQUE (execution_id, key)
);

-- Progress lines a worker appends while an execution runs (its log stream).
CREATE TABLE workflows.execution_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id uuid        NOT NULL REFERENCES workflows.execution_entity (id) ON DELETE CASCADE,
    node         text        CHECK (length(node) <= 128),
    message      text        NOT NULL CHECK (length(message) <= 10000),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_log_execution_idx ON workflows.execution_log (execution_id, id);

-- n8n-style counters per workflow and name (production_success, production_error,
-- manual_success, manual_error), kept in the transaction that ends an execution.
CREATE TABLE workflows.workflow_statistics (
    workflow_id  uuid        NOT NULL REFERENCES workflows.workflow_entity (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (name IN ('production_success', 'production_error', 'manual_success', 'manual_error')),
    count        bigint      NOT NULL DEFAULT 0 CHECK (count >= 0),
    root_count   bigint      NOT NULL DEFAULT 0 CHECK (root_count >= 0),
    latest_event timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, name)
);

-- Ended executions per workflow and hour of their start, kept in the transaction that ends
-- each one: the statistics read sums these, and pruning executions never changes them.
CREATE TABLE workflows.execution_rollup_hourly (
    workflow_id  uuid        NOT NULL REFERENCES workflows.workflow_entity (id) ON DELETE CASCADE,
    hour         timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    total        bigint      NOT NULL DEFAULT 0 CHECK (total >= 0),
    successful   bigint      NOT NULL DEFAULT 0 CHECK (successful >= 0),
    failed       bigint      NOT NULL DEFAULT 0 CHECK (failed >= 0),
    timed        bigint      NOT NULL DEFAULT 0 CHECK (timed >= 0),
    duration_ms  bigint      NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    PRIMARY KEY (workflow_id, hour)
);

-- n8n insights' raw points: kind 0 time saved (minutes), 1 runtime (ms), 2 success, 3 failure.
CREATE TABLE workflows.insight_raw (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    workflow_id uuid        NOT NULL,
    kind        integer     NOT NULL CHECK (kind IN (0, 1, 2, 3)),
    value       bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE workflows.insight_raw_default PARTITION OF workflows.insight_raw DEFAULT;
CREATE INDEX insight_raw_workflow_idx ON workflows.insight_raw (workflow_id, created_at);

-- The seed's table names.
CREATE VIEW workflows.workflows AS
    SELECT id, name, status, nodes, connections, settings, static_data, pin_data, meta, version_id,
           active_version_id, trigger_count, is_archived, created_at, created_by, updated_at, updated_by
    FROM workflows.workflow_entity;
CREATE VIEW workflows.executions AS
    SELECT id, workflow_id, version_id, status, mode, triggered_by, retry_of, retry_success_id, started_at,
           finished_at, wait_till, logical_deletion, created_at
    FROM workflows.execution_entity;
