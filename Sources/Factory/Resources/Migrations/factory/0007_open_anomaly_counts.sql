-- A line's open anomalies counted by severity, kept by statement triggers on anomalies in the
-- writing transaction: the overview reads a handful of rows instead of counting every open
-- anomaly of the line (thousands on a busy line) each time a write makes it stale. The counts
-- are exact: every insert, update and delete of anomalies applies its difference before it
-- commits; the backfill below counts the rows there are now.
-- Locks: creates triggers on anomalies (a brief SHARE ROW EXCLUSIVE lock) and reads the table
-- once; writes to anomalies wait for it.

CREATE TABLE factory.line_open_anomalies (
    line_id    text   NOT NULL REFERENCES factory.production_lines (line_id) ON DELETE CASCADE,
    factory_id text   NOT NULL,
    severity   text   NOT NULL,
    -- No CHECK (open_count >= 0): a CHECK is tested on the row an upsert proposes, before it
    -- meets the existing one, and a decrement is proposed as a negative row.
    open_count bigint NOT NULL,
    PRIMARY KEY (line_id, severity, factory_id)
);

LOCK TABLE factory.anomalies IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO factory.line_open_anomalies (line_id, factory_id, severity, open_count)
SELECT line_id, factory_id, severity, count(*) FROM factory.anomalies
WHERE status NOT IN ('closed', 'cancelled')
GROUP BY line_id, factory_id, severity;

-- Applies the statement's differences in key order, so that two writers lock counts in the
-- same order.
CREATE FUNCTION factory.count_open_anomalies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO factory.line_open_anomalies AS c (line_id, factory_id, severity, open_count)
        SELECT line_id, factory_id, severity, count(*) FROM new_rows
        WHERE status NOT IN ('closed', 'cancelled')
        GROUP BY line_id, factory_id, severity ORDER BY line_id, severity, factory_id
        ON CONFLICT (line_id, severity, factory_id) DO UPDATE SET open_count = c.open_count + excluded.open_count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO factory.line_open_anomalies AS c (line_id, factory_id, severity, open_count)
        SELECT line_id, factory_id, severity, -count(*) FROM old_rows
        WHERE status NOT IN ('closed', 'cancelled')
        GROUP BY line_id, factory_id, severity ORDER BY line_id, severity, factory_id
        ON CONFLICT (line_id, severity, factory_id) DO UPDATE SET open_count = c.open_count + excluded.open_count;
    ELSE
        INSERT INTO factory.line_open_anomalies AS c (line_id, factory_id, severity, open_count)
        SELECT line_id, factory_id, severity, sum(delta) FROM (
            SELECT line_id, factory_id, severity, 1 AS delta FROM new_rows WHERE status NOT IN ('closed', 'cancelled')
            UNION ALL
            SELECT line_id, factory_id, severity, -1 FROM old_rows WHERE status NOT IN ('closed', 'cancelled')
        ) AS d
        GROUP BY line_id, factory_id, severity HAVING sum(delta) <> 0 ORDER BY line_id, severity, factory_id
        ON CONFLICT (line_id, severity, factory_id) DO UPDATE SET open_count = c.open_count + excluded.open_count;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER anomalies_open_counts_insert AFTER INSERT ON factory.anomalies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION factory.count_open_anomalies();
CREATE TRIGGER anomalies_open_counts_update AFTER UPDATE ON factory.anomalies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION factory.count_open_anomalies();
CREATE TRIGGER anomalies_open_counts_delete AFTER DELETE ON factory.anomalies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION factory.count_open_anomalies();

-- Counts are the lines' data: the same policy as every scoped table.
ALTER TABLE factory.line_open_anomalies ENABLE ROW LEVEL SECURITY;
CREATE POLICY scoped ON factory.line_open_anomalies
    USING (coalesce(((SELECT factory.scope_values('factory_ids')) IS NULL OR factory_id = ANY ((SELECT factory.scope_values('factory_ids'))::text[]))
                    AND ((SELECT factory.scope_values('line_ids')) IS NULL OR line_id = ANY ((SELECT factory.scope_values('line_ids'))::text[])), false))
    WITH CHECK (coalesce(((SELECT factory.scope_values('factory_ids')) IS NULL OR factory_id = ANY ((SELECT factory.scope_values('factory_ids'))::text[]))
                         AND ((SELECT factory.scope_values('line_ids')) IS NULL OR line_id = ANY ((SELECT factory.scope_values('line_ids'))::text[])), false));
GRANT SELECT, INSERT, UPDATE ON factory.line_open_anomalies TO strata_factory_scoped;
