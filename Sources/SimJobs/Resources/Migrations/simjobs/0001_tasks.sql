-- The GPU simulation task server: structures, models, tasks and their results and logs, alert
-- rules and alerts, system logs. Tables are created in dependency order (structures and models
-- before the tasks that reference them). API keys are the platform's (strata.api_keys).
-- task_logs, alerts and system_logs are partitioned by month on created_at from the start
-- (a table cannot be partitioned later); the PartitionMaintainer keeps their months.
-- Locks: none beyond the new objects; safe on a live database.

CREATE SCHEMA IF NOT EXISTS simjobs;

-- Keeps updated_at true on every UPDATE.
CREATE FUNCTION simjobs.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE simjobs.structures (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    format      text        NOT NULL CHECK (format IN ('cif', 'xyz')),
    checksum    text        NOT NULL UNIQUE CHECK (checksum ~ '^[0-9a-f]{64}$'),
    file_size   bigint      NOT NULL CHECK (file_size >= 0),
    object_key  text        NOT NULL CHECK (length(object_key) BETWEEN 1 AND 1024),
    n_atoms     integer     CHECK (n_atoms > 0),
    formula     text        CHECK (length(formula) <= 500),
    space_group text        CHECK (length(space_group) <= 50),
    is_builtin  boolean     NOT NULL DEFAULT false,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Uploads expire (180 days, set by the app); built-in structures are kept.
    CHECK (is_builtin OR expires_at IS NOT NULL)
);

CREATE INDEX structures_expiry ON simjobs.structures (expires_at) WHERE NOT is_builtin;

CREATE TABLE simjobs.models (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
    framework          text        NOT NULL CHECK (framework ~ '^[a-z0-9_-]{1,50}$'),
    description        text        CHECK (length(description) <= 2000),
    version            text        CHECK (length(version) <= 50),
    config             jsonb       NOT NULL DEFAULT '{}',
    supported_elements text[]      NOT NULL DEFAULT '{}',
    with_d3            boolean     NOT NULL DEFAULT true,
    is_builtin         boolean     NOT NULL DEFAULT false,
    is_custom          boolean     NOT NULL DEFAULT false,
    is_enabled         boolean     NOT NULL DEFAULT true,
    is_validated       boolean     NOT NULL DEFAULT false,
    validated_at       timestamptz,
    validation_message text,
    is_loaded          boolean     NOT NULL DEFAULT false,
    loaded_gpu_id      smallint    CHECK (loaded_gpu_id >= 0),
    file_size          bigint      CHECK (file_size >= 0),
    checksum           text        CHECK (checksum ~ '^[0-9a-f]{64}$'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT (is_builtin AND is_custom)),
    CHECK (is_loaded = (loaded_gpu_id IS NOT NULL))
);

CREATE TRIGGER models_touch BEFORE UPDATE ON simjobs.models FOR EACH ROW EXECUTE FUNCTION simjobs.touch_updated_at();

INSERT INTO simjobs.models (name, framework, description, version, is_builtin, is_validated, validated_at) VALUES
    ('mace-mp-0-medium', 'mace', 'MACE-MP-0 medium universal potential', '0.3', true, true, now()),
    ('orb-v2', 'orb', 'Orb v2 universal potential', '2', true, true, now()),
    ('sevennet-0', 'sevennet', 'SevenNet-0 universal potential', '0', true, true, now()),
    ('mattersim-v1-1m', 'mattersim', 'MatterSim v1 1M', '1', true, true, now()),
    ('grace-2l-omat', 'grace', 'GRACE 2-layer OMat', '2', true, true, now());

CREATE TABLE simjobs.tasks (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    task_type           text        NOT NULL CHECK (task_type IN ('optimization', 'stability', 'bulk-modulus', 'heat-capacity',
                                                                  'interaction-energy', 'single-point-energy')),
    status              text        NOT NULL DEFAULT 'PENDING'
                                    CHECK (status IN ('PENDING', 'QUEUED', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT')),
    -- 0 critical, 1 high, 2 normal, 3 low; claimed in priority, then age order.
    priority            smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
    model_name          text        NOT NULL REFERENCES simjobs.models (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    -- Uploaded structures expire; the task keeps the structure's name.
    structure_id        uuid        REFERENCES simjobs.structures (id) ON DELETE SET NULL,
    structure_name      text        NOT NULL CHECK (length(structure_name) BETWEEN 1 AND 255),
    parameters          jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    options             jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    gpu_id              smallint    CHECK (gpu_id >= 0),
    worker_id           text        CHECK (length(worker_id) <= 200),
    -- The platform queue's job that runs the task (strata.jobs), and its attempt.
    job_id              bigint      REFERENCES strata.jobs (id) ON DELETE SET NULL,
    attempt             integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    error_type          text        CHECK (length(error_type) <= 100),
    error_message       text        CHECK (length(error_message) <= 10000),
    cancel_requested_at timestamptz,
    version             bigint      NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    queued_at           timestamptz,
    assigned_at         timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    is_completed        boolean     GENERATED ALWAYS AS (status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT')) STORED,
    CHECK ((status IN ('ASSIGNED', 'RUNNING')) <= (gpu_id IS NOT NULL AND worker_id IS NOT NULL)),
    CHECK ((status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT')) = (finished_at IS NOT NULL))
);

CREATE TRIGGER tasks_touch BEFORE UPDATE ON simjobs.tasks FOR EACH ROW EXECUTE FUNCTION simjobs.touch_updated_at();

-- The queue's order among waiting tasks, and status filters.
CREATE INDEX tasks_status_priority ON simjobs.tasks (status, priority, created_at);
-- Listing newest first (keyset on created_at, id).
CREATE INDEX tasks_created ON simjobs.tasks (created_at DESC, id DESC);
CREATE INDEX tasks_type_created ON simjobs.tasks (task_type, created_at DESC);
CREATE INDEX tasks_model ON simjobs.tasks (model_name);
CREATE INDEX tasks_structure ON simjobs.tasks (structure_id) WHERE structure_id IS NOT NULL;
CREATE INDEX tasks_job ON simjobs.tasks (job_id) WHERE job_id IS NOT NULL;

COMMENT ON TABLE simjobs.tasks IS 'Simulation tasks: PENDING → QUEUED → ASSIGNED → RUNNING → COMPLETED/FAILED/CANCELLED/TIMEOUT, run through the platform queue';

CREATE TABLE simjobs.task_results (
    task_id          uuid             PRIMARY KEY REFERENCES simjobs.tasks (id) ON DELETE CASCADE,
    result_data      jsonb            NOT NULL DEFAULT '{}',
    output_files     jsonb            NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(output_files) = 'array'),
    metrics          jsonb            NOT NULL DEFAULT '{}',
    duration_seconds double precision CHECK (duration_seconds >= 0),
    peak_memory_mb   double precision CHECK (peak_memory_mb >= 0),
    created_at       timestamptz      NOT NULL DEFAULT now(),
    -- Results are kept 180 days; then the data is removed and the row answers "expired".
    expired_at       timestamptz
);

CREATE INDEX task_results_age ON simjobs.task_results (created_at) WHERE expired_at IS NULL;

CREATE SEQUENCE simjobs.task_logs_id_seq AS bigint;

CREATE TABLE simjobs.task_logs (
    id         bigint      NOT NULL DEFAULT nextval('simjobs.task_logs_id_seq'),
    created_at timestamptz NOT NULL DEFAULT now(),
    task_id    uuid        NOT NULL REFERENCES simjobs.tasks (id) ON DELETE CASCADE,
    level      text        NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    logger     text        NOT NULL DEFAULT 'task' CHECK (length(logger) BETWEEN 1 AND 200),
    message    text        NOT NULL CHECK (length(message) <= 10000),
    extra      jsonb       NOT NULL DEFAULT '{}',
    gpu_id     smallint,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

ALTER SEQUENCE simjobs.task_logs_id_seq OWNED BY simjobs.task_logs.id;
CREATE TABLE simjobs.task_logs_default PARTITION OF simjobs.task_logs DEFAULT;
CREATE INDEX task_logs_task ON simjobs.task_logs (task_id, id);
-- Fast lookup of problems.
CREATE INDEX task_logs_problems ON simjobs.task_logs (created_at) WHERE level IN ('WARNING', 'ERROR', 'CRITICAL');

CREATE TABLE simjobs.alert_rules (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    rule_type         text        NOT NULL CHECK (rule_type IN ('gpu_available', 'gpu_memory', 'gpu_temperature', 'queue_length',
                                                                'consecutive_failures', 'disk_free', 'active_workers')),
    level             text        NOT NULL CHECK (level IN ('CRITICAL', 'WARNING', 'INFO')),
    condition         jsonb       NOT NULL CHECK (condition ? 'metric' AND condition ? 'op' AND condition ? 'value'
                                                  AND condition ->> 'op' IN ('<', '<=', '>', '>=', '==')),
    notify_channels   text[]      NOT NULL DEFAULT '{}',
    cooldown_seconds  integer     NOT NULL DEFAULT 300 CHECK (cooldown_seconds >= 0),
    is_enabled        boolean     NOT NULL DEFAULT true,
    last_triggered_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER alert_rules_touch BEFORE UPDATE ON simjobs.alert_rules FOR EACH ROW EXECUTE FUNCTION simjobs.touch_updated_at();

INSERT INTO simjobs.alert_rules (name, rule_type, level, condition, cooldown_seconds) VALUES
    ('gpu_unavailable', 'gpu_available', 'CRITICAL', '{"metric": "available_gpus", "op": "<", "value": 1}', 60),
    ('gpu_memory_low', 'gpu_memory', 'WARNING', '{"metric": "min_gpu_free_memory_gb", "op": "<", "value": 2.0}', 300),
    ('gpu_temperature_high', 'gpu_temperature', 'WARNING', '{"metric": "max_gpu_temp", "op": ">", "value": 85}', 300),
    ('queue_backlog', 'queue_length', 'WARNING', '{"metric": "queue_length", "op": ">", "value": 100}', 600),
    ('consecutive_failures', 'consecutive_failures', 'WARNING', '{"metric": "consecutive_failures", "op": ">", "value": 5}', 300),
    ('disk_low', 'disk_free', 'WARNING', '{"metric": "disk_free_gb", "op": "<", "value": 50}', 3600),
    ('worker_offline', 'active_workers', 'CRITICAL', '{"metric": "active_workers", "op": "<", "value": 1}', 60);

CREATE SEQUENCE simjobs.alerts_id_seq AS bigint;

CREATE TABLE simjobs.alerts (
    id          bigint      NOT NULL DEFAULT nextval('simjobs.alerts_id_seq'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    rule_id     uuid        REFERENCES simjobs.alert_rules (id) ON DELETE SET NULL,
    level       text        NOT NULL CHECK (level IN ('CRITICAL', 'WARNING', 'INFO')),
    message     text        NOT NULL CHECK (length(message) BETWEEN 1 AND 2000),
    details     jsonb       NOT NULL DEFAULT '{}',
    is_resolved boolean     NOT NULL DEFAULT false,
    resolved_at timestamptz,
    resolved_by text,
    PRIMARY KEY (id, created_at),
    CHECK (is_resolved = (resolved_at IS NOT NULL))
) PARTITION BY RANGE (created_at);

ALTER SEQUENCE simjobs.alerts_id_seq OWNED BY simjobs.alerts.id;
CREATE TABLE simjobs.alerts_default PARTITION OF simjobs.alerts DEFAULT;
CREATE INDEX alerts_resolved ON simjobs.alerts (is_resolved, created_at);
CREATE INDEX alerts_open_rule ON simjobs.alerts (rule_id, created_at) WHERE NOT is_resolved;

CREATE SEQUENCE simjobs.system_logs_id_seq AS bigint;

CREATE TABLE simjobs.system_logs (
    id         bigint      NOT NULL DEFAULT nextval('simjobs.system_logs_id_seq'),
    created_at timestamptz NOT NULL DEFAULT now(),
    level      text        NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    source     text        NOT NULL CHECK (source IN ('api', 'worker', 'scheduler', 'system')),
    logger     text        NOT NULL DEFAULT 'simjobs' CHECK (length(logger) BETWEEN 1 AND 200),
    message    text        NOT NULL CHECK (length(message) <= 10000),
    request_id text        CHECK (length(request_id) <= 200),
    extra      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

ALTER SEQUENCE simjobs.system_logs_id_seq OWNED BY simjobs.system_logs.id;
CREATE TABLE simjobs.system_logs_default PARTITION OF simjobs.system_logs DEFAULT;
CREATE INDEX system_logs_source ON simjobs.system_logs (source, created_at);
CREATE INDEX system_logs_request ON simjobs.system_logs (request_id) WHERE request_id IS NOT NULL;
