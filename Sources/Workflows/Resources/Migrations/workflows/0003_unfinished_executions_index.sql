-- A workflow's unfinished executions, found without reading its ended ones: the statistics
-- count the running and waiting executions of their window beside the rollups of the ended
-- ones, and a start under a concurrency limit counts the running ones.
-- Locks: SHARE on execution_entity while the index builds (writes wait; reads go on).

CREATE INDEX execution_entity_unfinished_idx ON workflows.execution_entity (workflow_id, started_at)
    WHERE status IN (1, 10, 11);
