-- A line's overview version grows only with the changes its overview shows. An update of an
-- anomaly bumps it when the anomaly's line, factory or severity changes, or when it opens or
-- ends (closed or cancelled: the open counts' rule); an update of a work order when its line or
-- status changes. Every other update (a move between open states, an edited description, an
-- assignment, a note on a work order) leaves the cached overview as it is: its readers do not
-- recompute it, and the line's writers do not queue on its version row until they commit.
-- Inserts and deletes bump as before. An update that moves a row to another line bumps both.
-- Locks: replaces triggers on anomalies and work_orders (brief SHARE ROW EXCLUSIVE locks);
-- safe on a live database.

CREATE OR REPLACE FUNCTION factory.bump_line_overview() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.line_id IS DISTINCT FROM NEW.line_id THEN
        INSERT INTO factory.line_overview_versions AS v (line_id)
        SELECT line_id FROM unnest(ARRAY[OLD.line_id, NEW.line_id]) AS l(line_id) ORDER BY 1
        ON CONFLICT (line_id) DO UPDATE SET version = v.version + 1;
    ELSE
        INSERT INTO factory.line_overview_versions AS v (line_id)
        VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.line_id ELSE NEW.line_id END)
        ON CONFLICT (line_id) DO UPDATE SET version = v.version + 1;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER anomalies_overview ON factory.anomalies;
CREATE TRIGGER anomalies_overview AFTER INSERT OR DELETE ON factory.anomalies
    FOR EACH ROW EXECUTE FUNCTION factory.bump_line_overview();
CREATE TRIGGER anomalies_overview_update AFTER UPDATE ON factory.anomalies
    FOR EACH ROW WHEN (OLD.line_id IS DISTINCT FROM NEW.line_id OR OLD.factory_id IS DISTINCT FROM NEW.factory_id
                       OR OLD.severity IS DISTINCT FROM NEW.severity
                       OR (OLD.status IN ('closed', 'cancelled')) IS DISTINCT FROM (NEW.status IN ('closed', 'cancelled')))
    EXECUTE FUNCTION factory.bump_line_overview();

DROP TRIGGER work_orders_overview ON factory.work_orders;
CREATE TRIGGER work_orders_overview AFTER INSERT OR DELETE ON factory.work_orders
    FOR EACH ROW EXECUTE FUNCTION factory.bump_line_overview();
CREATE TRIGGER work_orders_overview_update AFTER UPDATE ON factory.work_orders
    FOR EACH ROW WHEN (OLD.line_id IS DISTINCT FROM NEW.line_id OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION factory.bump_line_overview();
