-- Physical backups (pgBackRest) recorded beside the logical ones: the backup's label in the
-- repository, the LSN range and WAL segments it needs, and what it depends on; verifications
-- by pgBackRest's `verify` get a method of their own.
-- Locks: ACCESS EXCLUSIVE on strata.backups and strata.backup_verifications for catalogue-only
-- changes (nullable columns without defaults, a CHECK replaced on a small table).

ALTER TABLE strata.backups
    ADD COLUMN label     text UNIQUE CHECK (length(label) BETWEEN 1 AND 200),
    ADD COLUMN lsn_start pg_lsn,
    ADD COLUMN lsn_stop  pg_lsn,
    ADD COLUMN wal_start text,
    ADD COLUMN wal_stop  text,
    ADD COLUMN prior     text;

COMMENT ON COLUMN strata.backups.label IS 'Physical backups: the pgBackRest label (20261207-010000F, …_20261207-020000I)';
COMMENT ON COLUMN strata.backups.prior IS 'Physical backups: the label of the backup a differential or incremental one depends on';

ALTER TABLE strata.backup_verifications DROP CONSTRAINT backup_verifications_method_check;
ALTER TABLE strata.backup_verifications
    ADD CONSTRAINT backup_verifications_method_check CHECK (method IN ('list', 'restore', 'pgbackrest'));
