-- The row-level policies read the transaction's scope once per statement: through uncorrelated
-- sub-selects, which PostgreSQL evaluates once as init plans, instead of `factory.in_scope`,
-- which called current_setting and string_to_array for every row a statement filtered (an
-- overview's count of a line's open anomalies did it for each of them). The rule is the same:
-- `*` is no limit, otherwise the listed values; an unset or empty scope reaches no row.
-- Locks: ALTER POLICY takes a brief ACCESS EXCLUSIVE lock on each scoped table.

-- A scope's values (setting `factory.<scope>`): NULL for no limit, an empty array when unset.
CREATE FUNCTION factory.scope_values(scope text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN current_setting('factory.' || scope, true) = '*' THEN NULL
                ELSE coalesce(string_to_array(current_setting('factory.' || scope, true), ','), '{}') END
$$;

DO $$
DECLARE
    -- Whether a row's factory (%1$I) and line (%2$I) are inside the scope.
    rule constant text :=
        'coalesce(((SELECT factory.scope_values(''factory_ids'')) IS NULL OR %1$I = ANY ((SELECT factory.scope_values(''factory_ids''))::text[]))'
        ' AND ((SELECT factory.scope_values(''line_ids'')) IS NULL OR %2$I = ANY ((SELECT factory.scope_values(''line_ids''))::text[])), false)';
    row_rule constant text := format(rule, 'factory_id', 'line_id');
    scoped_table text;
BEGIN
    FOREACH scoped_table IN ARRAY ARRAY['production_lines', 'stations', 'anomalies', 'solutions', 'work_orders',
                                         'case_library', 'production_metrics', 'metric_rollups', 'defect_images'] LOOP
        EXECUTE format('ALTER POLICY scoped ON factory.%I USING (%s) WITH CHECK (%s)', scoped_table, row_rule, row_rule);
    END LOOP;
    EXECUTE format('ALTER POLICY scoped ON factory.graph_nodes USING (line_id IS NULL OR %s) WITH CHECK (line_id IS NULL OR %s)',
                   row_rule, row_rule);
    -- An edge shows when both its ends do.
    EXECUTE format('ALTER POLICY scoped ON factory.graph_edges USING ((from_line IS NULL OR %s) AND (to_line IS NULL OR %s))',
                   format(rule, 'from_factory', 'from_line'), format(rule, 'to_factory', 'to_line'));
END $$;

DROP FUNCTION factory.in_scope(text, text);
