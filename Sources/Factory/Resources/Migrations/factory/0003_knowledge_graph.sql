-- The knowledge graph (the seed's Neo4j Problem/Cause/Evidence nodes) as node and edge tables,
-- walked with recursive CTEs. One relationship type per fact (the seed's sample modelled each
-- one twice, CAUSED_BY and CAUSES, in opposite directions): a problem or a cause is CAUSED_BY a
-- cause, a problem or a cause HAS_EVIDENCE, an evidence SUPPORTS a cause; the edge's kind
-- constrains its endpoints' kinds (carried on the edge and checked by composite foreign keys).
-- A node of a line (a problem filed for an anomaly) is visible within that line's scope; a node
-- without a line is the plant's shared knowledge. An edge is visible when both its ends are (it
-- carries their places).
-- Locks: none beyond the new objects.

CREATE TABLE factory.graph_nodes (
    node_id    text             PRIMARY KEY CHECK (node_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'),
    kind       text             NOT NULL CHECK (kind IN ('problem', 'cause', 'evidence')),
    label      text             NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    properties jsonb            NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    confidence double precision CHECK (confidence BETWEEN 0 AND 1),
    anomaly_id uuid             REFERENCES factory.anomalies (anomaly_id) ON DELETE SET NULL,
    factory_id text,
    line_id    text,
    version    bigint           NOT NULL DEFAULT 1,
    created_by text             NOT NULL,
    created_at timestamptz      NOT NULL DEFAULT now(),
    updated_at timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (node_id, kind),
    CHECK (kind = 'cause' OR confidence IS NULL),
    CHECK (kind = 'problem' OR anomaly_id IS NULL),
    CHECK ((factory_id IS NULL) = (line_id IS NULL)),
    FOREIGN KEY (line_id, factory_id) REFERENCES factory.production_lines (line_id, factory_id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX graph_nodes_one_per_anomaly ON factory.graph_nodes (anomaly_id) WHERE anomaly_id IS NOT NULL;
CREATE INDEX graph_nodes_line_idx ON factory.graph_nodes (line_id) WHERE line_id IS NOT NULL;
CREATE TRIGGER graph_nodes_touch BEFORE UPDATE ON factory.graph_nodes FOR EACH ROW EXECUTE FUNCTION factory.touch_updated_at();

CREATE TABLE factory.graph_edges (
    from_node  text             NOT NULL,
    from_kind  text             NOT NULL,
    kind       text             NOT NULL CHECK (kind IN ('caused_by', 'has_evidence', 'supports')),
    to_node    text             NOT NULL,
    to_kind    text             NOT NULL,
    confidence double precision NOT NULL DEFAULT 1 CHECK (confidence BETWEEN 0 AND 1),
    -- The target's confidence (1 for a node without one), kept by a trigger, so that a walk
    -- multiplies along edges without reading each node.
    to_confidence double precision NOT NULL DEFAULT 1,
    -- The ends' places, copied from the nodes when they are linked (a node's line never
    -- changes), so that the policy reads the edge alone.
    from_factory text,
    from_line  text,
    to_factory text,
    to_line    text,
    created_by text             NOT NULL,
    created_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (from_node, kind, to_node),
    FOREIGN KEY (from_node, from_kind) REFERENCES factory.graph_nodes (node_id, kind) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY (to_node, to_kind) REFERENCES factory.graph_nodes (node_id, kind) ON DELETE CASCADE ON UPDATE CASCADE,
    CHECK (from_node <> to_node),
    CHECK ((kind = 'caused_by' AND from_kind IN ('problem', 'cause') AND to_kind = 'cause')
        OR (kind = 'has_evidence' AND from_kind IN ('problem', 'cause') AND to_kind = 'evidence')
        OR (kind = 'supports' AND from_kind = 'evidence' AND to_kind = 'cause'))
);
CREATE INDEX graph_edges_to_idx ON factory.graph_edges (to_node, kind);
CREATE INDEX graph_edges_from_idx ON factory.graph_edges (from_node, kind) INCLUDE (to_node, confidence, to_confidence);

CREATE FUNCTION factory.copy_node_confidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE factory.graph_edges SET to_confidence = coalesce(NEW.confidence, 1) WHERE to_node = NEW.node_id;
    RETURN NULL;
END $$;
CREATE TRIGGER graph_nodes_confidence AFTER UPDATE OF confidence ON factory.graph_nodes
    FOR EACH ROW WHEN (OLD.confidence IS DISTINCT FROM NEW.confidence) EXECUTE FUNCTION factory.copy_node_confidence();

ALTER TABLE factory.graph_nodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY scoped ON factory.graph_nodes
    USING (line_id IS NULL OR factory.in_scope(factory_id, line_id))
    WITH CHECK (line_id IS NULL OR factory.in_scope(factory_id, line_id));
ALTER TABLE factory.graph_edges ENABLE ROW LEVEL SECURITY;
-- An edge shows when both its ends do.
CREATE POLICY scoped ON factory.graph_edges
    USING ((from_line IS NULL OR factory.in_scope(from_factory, from_line))
           AND (to_line IS NULL OR factory.in_scope(to_factory, to_line)));

GRANT SELECT, INSERT, UPDATE, DELETE ON factory.graph_nodes, factory.graph_edges TO strata_factory_scoped;
