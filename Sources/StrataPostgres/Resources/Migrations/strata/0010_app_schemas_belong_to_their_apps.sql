-- The factory and helpdesk schemas and their seed-named audit_logs views (0007) belong to
-- those apps: each app's own migrations create its schema and its views over
-- strata.audit_log (docs/ADDING_AN_APP.md shows the view). They go here; a schema in which
-- something else was created already is kept.
-- Locks: ACCESS EXCLUSIVE on the two views only (nothing reads them).

DROP VIEW IF EXISTS factory.audit_logs;
DROP VIEW IF EXISTS helpdesk.audit_logs;

DO $$
BEGIN
    DROP SCHEMA IF EXISTS factory;
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;
END $$;

DO $$
BEGIN
    DROP SCHEMA IF EXISTS helpdesk;
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;
END $$;
