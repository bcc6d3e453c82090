-- Backups and their verifications as data: every backup Strata takes is a row, and every
-- check of one is a row of its own, so that "when did a backup last restore?" is a query.
-- Locks: none beyond the new objects; safe on a live database.

CREATE TABLE strata.backups (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text        NOT NULL CHECK (kind IN ('logical', 'full', 'diff', 'incr')),
    status         text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'expired')),
    -- The dump file (logical) or the repository (physical).
    location       text        NOT NULL CHECK (length(location) BETWEEN 1 AND 4096),
    database_name  text        NOT NULL,
    server_version text        NOT NULL,
    tool_version   text        NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    size_bytes     bigint      CHECK (size_bytes >= 0),
    error          text,
    expired_at     timestamptz,
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK ((status = 'succeeded' OR status = 'expired') = (size_bytes IS NOT NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK ((status = 'expired') = (expired_at IS NOT NULL))
);

CREATE INDEX backups_by_kind_newest ON strata.backups (kind, started_at DESC);

CREATE TABLE strata.backup_verifications (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backup_id   bigint      NOT NULL REFERENCES strata.backups (id) ON DELETE CASCADE,
    -- How it was checked: 'list' (the archive's table of contents reads back whole) or
    -- 'restore' (restored into a scratch database and compared table by table).
    method      text        NOT NULL CHECK (method IN ('list', 'restore')),
    verified_at timestamptz NOT NULL DEFAULT now(),
    passed      boolean     NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX backup_verifications_by_backup ON strata.backup_verifications (backup_id, verified_at DESC);

COMMENT ON TABLE strata.backups IS 'Every backup taken (strata backup create and the schedule), with where it is and how it ended';
COMMENT ON TABLE strata.backup_verifications IS 'Every check of a backup (strata backup verify), passed or not';
