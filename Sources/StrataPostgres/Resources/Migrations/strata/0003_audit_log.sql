-- The audit log: who changed what, from where, with which request, and how it ended.
-- Written in the same transaction as the change (AuditWriter), or after a rejected request by
-- the HTTP audit middleware. Partitioned by month on occurred_at; the PartitionMaintainer
-- creates the months ahead and moves any row out of the default partition, which should stay
-- empty. Nothing is dropped unless the table's declaration says so.
-- Locks: none beyond the new objects; safe on a live database.

CREATE SEQUENCE strata.audit_log_id_seq AS bigint;

CREATE TABLE strata.audit_log (
    id              bigint      NOT NULL DEFAULT nextval('strata.audit_log_id_seq'),
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    app             text        NOT NULL CHECK (app ~ '^[a-z][a-z0-9_]{0,62}$'),
    actor           text,
    action          text        NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    resource_type   text        NOT NULL CHECK (length(resource_type) BETWEEN 1 AND 100),
    resource_id     text,
    ip              inet,
    user_agent      text        CHECK (length(user_agent) <= 1000),
    request_id      text,
    trace_id        text,
    response_status smallint    CHECK (response_status BETWEEN 100 AND 599),
    request_body    jsonb,
    details         jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

ALTER SEQUENCE strata.audit_log_id_seq OWNED BY strata.audit_log.id;

CREATE TABLE strata.audit_log_default PARTITION OF strata.audit_log DEFAULT;

CREATE INDEX audit_log_resource ON strata.audit_log (resource_type, resource_id, occurred_at);
CREATE INDEX audit_log_actor ON strata.audit_log (actor, occurred_at);
CREATE INDEX audit_log_request ON strata.audit_log (request_id);

COMMENT ON TABLE strata.audit_log IS 'Every change and every rejected mutating request; monthly partitions on occurred_at';
COMMENT ON COLUMN strata.audit_log.request_body IS 'The request body as JSON with password/token/secret/key/authorization fields redacted';
