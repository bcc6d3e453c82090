-- A logical backup's manifest (every table's row count and checksum, taken in the snapshot the
-- dump was taken in) and the restore drills that compare a restored copy with it.
-- Locks: ACCESS EXCLUSIVE on strata.backups for a catalogue-only change (a nullable column
-- without a default); the new table is new.

ALTER TABLE strata.backups ADD COLUMN manifest jsonb;

COMMENT ON COLUMN strata.backups.manifest IS 'Logical backups: [{table, rows, checksum}] of every table, as the dump''s snapshot saw them';

CREATE TABLE strata.backup_drills (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backup_id        bigint      NOT NULL REFERENCES strata.backups (id) ON DELETE CASCADE,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz NOT NULL,
    passed           boolean     NOT NULL,
    tables_compared  integer     NOT NULL CHECK (tables_compared >= 0),
    tables_differing integer     NOT NULL CHECK (tables_differing >= 0),
    restore_seconds  double precision CHECK (restore_seconds >= 0),
    -- The tables that differ (expected against found), or why the drill could not compare.
    details          jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX backup_drills_by_backup ON strata.backup_drills (backup_id, started_at DESC);
CREATE INDEX backup_drills_newest ON strata.backup_drills (started_at DESC);

COMMENT ON TABLE strata.backup_drills IS 'Every restore drill (strata backup drill and the weekly schedule): the backup restored into a scratch database and compared table by table with its manifest';
