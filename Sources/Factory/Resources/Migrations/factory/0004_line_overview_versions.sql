-- A version per production line that grows with every change its overview shows (the line
-- itself, its anomalies and work orders, its metrics): the version of the cached overview
-- (`production:overview:{line_id}`), so that a reader who loaded it before a write can never
-- put the old overview back (the platform's versioned cache entries).
-- Locks: creates triggers on production_lines, anomalies and work_orders (brief SHARE ROW
-- EXCLUSIVE locks); safe on a live database.

CREATE TABLE factory.line_overview_versions (
    line_id text   PRIMARY KEY REFERENCES factory.production_lines (line_id) ON DELETE CASCADE,
    version bigint NOT NULL DEFAULT 1
);

CREATE FUNCTION factory.bump_line_overview() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_line text := CASE WHEN TG_OP = 'DELETE' THEN OLD.line_id ELSE NEW.line_id END;
BEGIN
    INSERT INTO factory.line_overview_versions AS v (line_id) VALUES (changed_line)
    ON CONFLICT (line_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER production_lines_overview AFTER UPDATE ON factory.production_lines
    FOR EACH ROW EXECUTE FUNCTION factory.bump_line_overview();
CREATE TRIGGER anomalies_overview AFTER INSERT OR UPDATE OR DELETE ON factory.anomalies
    FOR EACH ROW EXECUTE FUNCTION factory.bump_line_overview();
CREATE TRIGGER work_orders_overview AFTER INSERT OR UPDATE OR DELETE ON factory.work_orders
    FOR EACH ROW EXECUTE FUNCTION factory.bump_line_overview();

GRANT SELECT, INSERT, UPDATE ON factory.line_overview_versions TO strata_factory_scoped;
