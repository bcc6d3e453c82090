-- Anomaly-disposal platform (seed 000): production lines and stations, anomalies with their
-- solutions, execution work orders and the case library, the plant's users, and the production
-- time series (the seed's InfluxDB measurement `production_metrics`, monthly partitions).
-- Corrections over the seed's DDL (SEEDS.md §2.0):
-- - timestamptz everywhere, updated_at kept by trigger, a `version` (the ETag) on rows the API edits;
-- - a CHECK on every status, severity, type and range; an index on every foreign key;
-- - no anomaly ↔ solution cycle: the adopted solution is marked on the solution (`adopted`, one
--   per anomaly by a partial unique index), and likewise one `recommended`;
-- - a station belongs to the anomaly's line (composite foreign key), people are `users.user_id`;
-- - the case tags' GIN index is written as PostgreSQL; case text is searchable (tsvector);
-- - the audit trail is the platform's `strata.audit_log`, shown as `factory.audit_logs`.
-- Scopes: every row names its factory and line, and row-level security filters them by the
-- caller's `factory_ids`/`line_ids` (set per transaction as `factory.factory_ids` and
-- `factory.line_ids`; `*` for no limit). The app's statements run as the NOLOGIN role
-- `strata_factory_scoped`, so a statement that forgets the scope still cannot reach another
-- line's rows; with no scope set, it reaches none.
-- Locks: none beyond the new objects; creates one cluster-wide role when it is missing.

CREATE SCHEMA IF NOT EXISTS factory;

DO $$
BEGIN
    CREATE ROLE strata_factory_scoped NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of this cluster made it
END $$;

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'strata_factory_scoped', 'MEMBER') THEN
        EXECUTE format('GRANT strata_factory_scoped TO %I', current_user);
    END IF;
END $$;

CREATE FUNCTION factory.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- Whether a row of `factory_id`/`line_id` is inside the transaction's scope. Unset scope: no.
CREATE FUNCTION factory.in_scope(factory_id text, line_id text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (current_setting('factory.factory_ids', true) = '*'
            OR factory_id = ANY (string_to_array(current_setting('factory.factory_ids', true), ',')))
        AND (current_setting('factory.line_ids', true) = '*'
            OR line_id = ANY (string_to_array(current_setting('factory.line_ids', true), ','))),
        false)
$$;

CREATE TABLE factory.users (
    user_id       text        PRIMARY KEY CHECK (user_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$'),
    username      text        NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
    email         text        CHECK (email IS NULL OR (length(email) <= 254 AND email LIKE '%_@_%')),
    phone         text        CHECK (phone IS NULL OR length(phone) <= 20),
    role          text        NOT NULL DEFAULT 'viewer'
                              CHECK (role IN ('admin', 'manager', 'engineer', 'operator', 'viewer')),
    factory_ids   text[],     -- NULL: every factory
    line_ids      text[],     -- NULL: every line of those factories
    permissions   text[]      NOT NULL DEFAULT '{}',
    password_hash text        NOT NULL,
    active        boolean     NOT NULL DEFAULT true,
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX users_username_key ON factory.users (lower(username));
CREATE UNIQUE INDEX users_email_key ON factory.users (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX users_factory_ids_idx ON factory.users USING gin (factory_ids);
CREATE INDEX users_line_ids_idx ON factory.users USING gin (line_ids);
CREATE TRIGGER users_touch BEFORE UPDATE ON factory.users FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.production_lines (
    line_id    text        PRIMARY KEY CHECK (line_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$'),
    line_name  text        NOT NULL CHECK (length(line_name) BETWEEN 1 AND 100),
    factory_id text        NOT NULL CHECK (factory_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$'),
    status     text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'maintenance', 'stopped', 'retired')),
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (line_id, factory_id)
);
CREATE INDEX production_lines_factory_idx ON factory.production_lines (factory_id);
CREATE TRIGGER production_lines_touch BEFORE UPDATE ON factory.production_lines
    FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.stations (
    station_id     text        PRIMARY KEY CHECK (station_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$'),
    station_name   text        NOT NULL CHECK (length(station_name) BETWEEN 1 AND 100),
    line_id        text        NOT NULL,
    factory_id     text        NOT NULL,
    station_type   text        CHECK (station_type IS NULL OR length(station_type) BETWEEN 1 AND 50),
    sequence_order integer     NOT NULL DEFAULT 0 CHECK (sequence_order >= 0),
    equipment_ids  text[]      NOT NULL DEFAULT '{}',
    version        bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, line_id),
    FOREIGN KEY (line_id, factory_id) REFERENCES factory.production_lines (line_id, factory_id) ON DELETE RESTRICT
);
CREATE INDEX stations_line_idx ON factory.stations (line_id, sequence_order);
CREATE TRIGGER stations_touch BEFORE UPDATE ON factory.stations FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.anomalies (
    anomaly_id    uuid        PRIMARY KEY,
    factory_id    text        NOT NULL,
    line_id       text        NOT NULL,
    station_id    text,
    defect_type   text        NOT NULL CHECK (length(defect_type) BETWEEN 1 AND 100),
    severity      text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    description   text        CHECK (description IS NULL OR length(description) <= 10000),
    detected_at   timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'open'
                              CHECK (status IN ('open', 'diagnosing', 'solution_pending', 'executing', 'verifying', 'closed', 'cancelled')),
    assigned_to   text        REFERENCES factory.users (user_id) ON DELETE SET NULL,
    root_cause    text        CHECK (root_cause IS NULL OR length(root_cause) <= 10000),
    reopen_count  integer     NOT NULL DEFAULT 0 CHECK (reopen_count >= 0),
    version       bigint      NOT NULL DEFAULT 1,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz CHECK (closed_at IS NULL OR closed_at >= detected_at),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    UNIQUE (anomaly_id, factory_id, line_id),
    FOREIGN KEY (line_id, factory_id) REFERENCES factory.production_lines (line_id, factory_id) ON DELETE RESTRICT,
    FOREIGN KEY (station_id, line_id) REFERENCES factory.stations (station_id, line_id) ON DELETE RESTRICT
);
CREATE INDEX anomalies_line_idx ON factory.anomalies (line_id, detected_at DESC);
CREATE INDEX anomalies_station_idx ON factory.anomalies (station_id) WHERE station_id IS NOT NULL;
CREATE INDEX anomalies_status_idx ON factory.anomalies (status, detected_at DESC);
CREATE INDEX anomalies_assigned_idx ON factory.anomalies (assigned_to) WHERE assigned_to IS NOT NULL;
CREATE INDEX anomalies_newest_idx ON factory.anomalies (created_at DESC, anomaly_id DESC);
CREATE TRIGGER anomalies_touch BEFORE UPDATE ON factory.anomalies FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.solutions (
    solution_id              uuid          PRIMARY KEY,
    anomaly_id               uuid          NOT NULL,
    factory_id               text          NOT NULL,
    line_id                  text          NOT NULL,
    solution_type            text          NOT NULL
                                           CHECK (solution_type IN ('repair', 'adjustment', 'replacement', 'process_change', 'workaround')),
    solution_name            text          NOT NULL CHECK (length(solution_name) BETWEEN 1 AND 200),
    description              text          CHECK (description IS NULL OR length(description) <= 10000),
    estimated_downtime_hours numeric(10,2) CHECK (estimated_downtime_hours >= 0),
    success_rate             numeric(5,2)  CHECK (success_rate BETWEEN 0 AND 100),
    expected_loss            numeric(15,2) CHECK (expected_loss >= 0),
    roi                      numeric(10,2),
    simulation_result        jsonb,
    recommended              boolean       NOT NULL DEFAULT false,
    adopted                  boolean       NOT NULL DEFAULT false,
    version                  bigint        NOT NULL DEFAULT 1,
    created_by               text          NOT NULL,
    created_at               timestamptz   NOT NULL DEFAULT now(),
    updated_at               timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (solution_id, anomaly_id, factory_id, line_id),
    FOREIGN KEY (anomaly_id, factory_id, line_id) REFERENCES factory.anomalies (anomaly_id, factory_id, line_id) ON DELETE CASCADE
);
CREATE INDEX solutions_anomaly_idx ON factory.solutions (anomaly_id, created_at);
CREATE UNIQUE INDEX solutions_one_adopted ON factory.solutions (anomaly_id) WHERE adopted;
CREATE UNIQUE INDEX solutions_one_recommended ON factory.solutions (anomaly_id) WHERE recommended;
CREATE TRIGGER solutions_touch BEFORE UPDATE ON factory.solutions FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.work_orders (
    order_id                 uuid          PRIMARY KEY,
    solution_id              uuid          NOT NULL,
    anomaly_id               uuid          NOT NULL,
    factory_id               text          NOT NULL,
    line_id                  text          NOT NULL,
    order_type               text          NOT NULL
                                           CHECK (order_type IN ('repair', 'maintenance', 'inspection', 'adjustment', 'replacement')),
    responsible_user_id      text          REFERENCES factory.users (user_id) ON DELETE SET NULL,
    instructions             text          CHECK (instructions IS NULL OR length(instructions) <= 10000),
    estimated_duration_hours numeric(7,2)  CHECK (estimated_duration_hours >= 0),
    actual_duration_hours    numeric(7,2)  CHECK (actual_duration_hours >= 0),
    status                   text          NOT NULL DEFAULT 'pending'
                                           CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
    execution_result         text          CHECK (execution_result IN ('success', 'partial', 'failure')),
    result_verified          boolean       NOT NULL DEFAULT false,
    actual_loss              numeric(15,2) CHECK (actual_loss >= 0),
    notes                    text          CHECK (notes IS NULL OR length(notes) <= 10000),
    version                  bigint        NOT NULL DEFAULT 1,
    created_by               text          NOT NULL,
    created_at               timestamptz   NOT NULL DEFAULT now(),
    updated_at               timestamptz   NOT NULL DEFAULT now(),
    started_at               timestamptz,
    completed_at             timestamptz   CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at),
    CHECK (NOT result_verified OR status = 'completed'),
    FOREIGN KEY (solution_id, anomaly_id, factory_id, line_id)
        REFERENCES factory.solutions (solution_id, anomaly_id, factory_id, line_id) ON DELETE RESTRICT
);
CREATE INDEX work_orders_solution_idx ON factory.work_orders (solution_id);
CREATE INDEX work_orders_anomaly_idx ON factory.work_orders (anomaly_id);
CREATE INDEX work_orders_status_idx ON factory.work_orders (line_id, status);
CREATE INDEX work_orders_responsible_idx ON factory.work_orders (responsible_user_id) WHERE responsible_user_id IS NOT NULL;
-- One open work order per anomaly.
CREATE UNIQUE INDEX work_orders_one_open ON factory.work_orders (anomaly_id) WHERE status IN ('pending', 'in_progress');
CREATE TRIGGER work_orders_touch BEFORE UPDATE ON factory.work_orders FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.case_library (
    case_id             uuid        PRIMARY KEY,
    anomaly_id          uuid        REFERENCES factory.anomalies (anomaly_id) ON DELETE SET NULL,
    factory_id          text        NOT NULL,
    line_id             text        NOT NULL,
    problem_description text        NOT NULL CHECK (length(problem_description) BETWEEN 1 AND 10000),
    diagnosis_result    jsonb,
    solution_id         uuid        REFERENCES factory.solutions (solution_id) ON DELETE SET NULL,
    expected_effect     jsonb,
    actual_effect       jsonb,
    lessons_learned     text        CHECK (lessons_learned IS NULL OR length(lessons_learned) <= 10000),
    tags                text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 32),
    search              tsvector    GENERATED ALWAYS AS (
                                        to_tsvector('simple', problem_description || ' ' || coalesce(lessons_learned, ''))
                                    ) STORED,
    version             bigint      NOT NULL DEFAULT 1,
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (line_id, factory_id) REFERENCES factory.production_lines (line_id, factory_id) ON DELETE RESTRICT
);
CREATE INDEX case_library_anomaly_idx ON factory.case_library (anomaly_id);
CREATE INDEX case_library_solution_idx ON factory.case_library (solution_id);
CREATE INDEX case_library_tags_idx ON factory.case_library USING gin (tags);
CREATE INDEX case_library_search_idx ON factory.case_library USING gin (search);
CREATE INDEX case_library_newest_idx ON factory.case_library (created_at DESC, case_id DESC);
CREATE TRIGGER case_library_touch BEFORE UPDATE ON factory.case_library FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

-- Every status change of an anomaly (reopenings included), kept by the platform's StatusHistory.
CREATE TABLE factory.anomaly_status_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_id text        NOT NULL,
    from_status text,
    to_status   text        NOT NULL,
    reason      text        CHECK (length(reason) <= 1000),
    actor       text,
    request_id  text,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anomaly_status_history_resource ON factory.anomaly_status_history (resource_id, id);

-- The seed's InfluxDB measurement: tags line_id, station_id ('' for a line-level point), fields
-- yield_rate and cycle_time. The natural key makes a replayed batch add nothing.
CREATE TABLE factory.production_metrics (
    time       timestamptz      NOT NULL,
    factory_id text             NOT NULL,
    line_id    text             NOT NULL,
    station_id text             NOT NULL DEFAULT '',
    yield_rate double precision,
    cycle_time double precision,
    PRIMARY KEY (line_id, station_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX production_metrics_time_brin ON factory.production_metrics USING brin (time);
-- Monthly partitions are made ahead by the server's partition maintainer; rows outside them
-- wait here until theirs exists.
CREATE TABLE factory.production_metrics_default PARTITION OF factory.production_metrics DEFAULT;

CREATE VIEW factory.audit_logs AS
SELECT id AS log_id, actor AS user_id, action, resource_type, resource_id, host(ip) AS ip_address,
       user_agent, request_body, response_status::integer AS response_status,
       occurred_at AS created_at, request_id, trace_id
FROM strata.audit_log WHERE app = 'factory';

-- Row-level security: the scoped role sees and writes only rows inside its scope.
DO $$
DECLARE
    scoped_table text;
BEGIN
    FOREACH scoped_table IN ARRAY ARRAY['production_lines', 'stations', 'anomalies', 'solutions', 'work_orders',
                                         'case_library', 'production_metrics'] LOOP
        EXECUTE format('ALTER TABLE factory.%I ENABLE ROW LEVEL SECURITY', scoped_table);
        EXECUTE format('CREATE POLICY scoped ON factory.%I USING (factory.in_scope(factory_id, line_id))
                        WITH CHECK (factory.in_scope(factory_id, line_id))', scoped_table);
    END LOOP;
END $$;

GRANT USAGE ON SCHEMA factory TO strata_factory_scoped;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA factory TO strata_factory_scoped;
-- Users are managed by the platform's owner role (sign-in, the admin routes); the scoped role
-- reads only who can be assigned.
REVOKE INSERT, UPDATE, DELETE ON factory.users FROM strata_factory_scoped;
REVOKE SELECT ON factory.users FROM strata_factory_scoped;
GRANT SELECT (user_id, username, role, active) ON factory.users TO strata_factory_scoped;
-- The audit view shows every line's entries: it is for the owner role's admin reads only.
REVOKE ALL ON factory.audit_logs FROM strata_factory_scoped;
