-- Hourly and daily rollups of the production metrics (sum, count, min and max of each field per
-- line, station and period), kept by a queue job from the raw points. Every write of raw points
-- marks the hours it touched in `metric_rollup_dirty` in its own transaction (an upsert, which
-- holds the mark's row lock until it commits); the job recomputes each marked hour and its day
-- from the raw data and removes the mark, so a rollup without a mark equals a recount of the raw
-- points. Rollups outlive the raw points' retention.
-- Locks: none beyond the new objects.

CREATE TABLE factory.metric_rollup_dirty (
    line_id    text        NOT NULL,
    hour       timestamptz NOT NULL,
    touched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (line_id, hour)
);

CREATE TABLE factory.metric_rollups (
    period          text             NOT NULL CHECK (period IN ('hour', 'day')),
    bucket          timestamptz      NOT NULL,
    factory_id      text             NOT NULL,
    line_id         text             NOT NULL,
    station_id      text             NOT NULL,
    yield_rate_sum  double precision,
    yield_rate_count bigint          NOT NULL DEFAULT 0,
    yield_rate_min  double precision,
    yield_rate_max  double precision,
    cycle_time_sum  double precision,
    cycle_time_count bigint          NOT NULL DEFAULT 0,
    cycle_time_min  double precision,
    cycle_time_max  double precision,
    PRIMARY KEY (line_id, period, bucket, station_id)
);

ALTER TABLE factory.metric_rollups ENABLE ROW LEVEL SECURITY;
CREATE POLICY scoped ON factory.metric_rollups USING (factory.in_scope(factory_id, line_id))
    WITH CHECK (factory.in_scope(factory_id, line_id));
GRANT SELECT ON factory.metric_rollups TO strata_factory_scoped;
-- Writers of raw points mark their hours; the marks say nothing about other lines' data.
GRANT SELECT, INSERT, UPDATE ON factory.metric_rollup_dirty TO strata_factory_scoped;
