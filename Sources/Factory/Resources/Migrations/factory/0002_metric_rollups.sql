-- Hourly and daily rollups of the production metrics (sum, count, min and max of each field per
-- line, station and period), kept by a queue job from the raw points. Every write of raw points
-- appends marks of the hours it touched to `metric_rollup_dirty` in its own transaction (no key,
-- so concurrent writers never wait for each other); the job deletes the marks it can see — all
-- of committed writes — and then recomputes their hours and days from the raw data in later
-- statements, which see those writes. A mark of a write not yet committed stays for the next
-- pass. So a rollup without a mark equals a recount of the raw points. Rollups outlive the raw
-- points' retention.
-- Locks: none beyond the new objects.

CREATE TABLE factory.metric_rollup_dirty (
    line_id   text        NOT NULL,
    hour      timestamptz NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX metric_rollup_dirty_line_hour ON factory.metric_rollup_dirty (line_id, hour);

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
GRANT SELECT, INSERT ON factory.metric_rollup_dirty TO strata_factory_scoped;
