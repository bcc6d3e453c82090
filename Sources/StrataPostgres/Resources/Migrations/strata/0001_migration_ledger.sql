-- The platform's schema and the migration ledger.
-- Every later migration of every module is recorded here, with the SHA-256 of its file.
-- Locks: none beyond the new objects; safe on a live database.

CREATE SCHEMA IF NOT EXISTS strata;

COMMENT ON SCHEMA strata IS 'Strata platform tables: migration ledger, outbox, audit log, jobs, API keys';

CREATE TABLE strata.schema_migrations (
    module      text        NOT NULL CHECK (module ~ '^[a-z][a-z0-9_]*$'),
    version     integer     NOT NULL CHECK (version > 0),
    name        text        NOT NULL,
    checksum    text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    state       text        NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'failed')),
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer     NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    applied_by  text        NOT NULL DEFAULT current_user,
    error       text,
    PRIMARY KEY (module, version)
);

COMMENT ON TABLE strata.schema_migrations IS 'One row per applied (or failed non-transactional) migration file';
COMMENT ON COLUMN strata.schema_migrations.checksum IS 'SHA-256 of the file with LF line endings; an edited applied file is refused';
COMMENT ON COLUMN strata.schema_migrations.state IS 'failed: a no-transaction file that did not complete; the next run repeats it';
