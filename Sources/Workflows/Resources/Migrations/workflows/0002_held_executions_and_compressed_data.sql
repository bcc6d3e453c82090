-- Executions held back by their workflow's concurrency limit, and execution data compressed.
-- - `held`: a New execution waiting for a slot of its workflow's `max_concurrency` (it has no
--   job yet); the end of another execution of the workflow releases the oldest held ones.
-- - Execution inputs, graphs and results are stored compressed with lz4 (PostgreSQL's TOAST
--   compresses every value over about 2 kB); the unused `data_compressed` column goes.
-- Locks: ACCESS EXCLUSIVE on execution_entity and execution_data for the catalog changes only
-- (the new column has a constant default: no rewrite).

ALTER TABLE workflows.execution_entity ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE workflows.execution_entity ADD CONSTRAINT execution_entity_held_new CHECK (NOT held OR status = 1);
CREATE INDEX execution_entity_held_idx ON workflows.execution_entity (workflow_id, created_at, id) WHERE held;

ALTER TABLE workflows.execution_data DROP COLUMN data_compressed;
ALTER TABLE workflows.execution_data ALTER COLUMN data SET COMPRESSION lz4;
ALTER TABLE workflows.execution_data ALTER COLUMN input SET COMPRESSION lz4;
ALTER TABLE workflows.execution_data ALTER COLUMN workflow_data SET COMPRESSION lz4;
