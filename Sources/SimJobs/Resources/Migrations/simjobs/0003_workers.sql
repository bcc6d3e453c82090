-- The workers (`strata worker` processes) that announced themselves: their GPUs, which are
-- busy, and when each was last seen (every heartbeat). A worker not seen for three heartbeat
-- intervals is offline; one that stopped cleanly says so. Locks: none beyond the new table.

CREATE TABLE simjobs.workers (
    name               text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    hostname           text        NOT NULL CHECK (length(hostname) <= 255),
    pid                integer     NOT NULL CHECK (pid > 0),
    gpus               smallint[]  NOT NULL,
    busy_gpus          smallint[]  NOT NULL DEFAULT '{}' CHECK (busy_gpus <@ gpus),
    heartbeat_seconds  integer     NOT NULL CHECK (heartbeat_seconds > 0),
    started_at         timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    stopped_at         timestamptz
);

CREATE INDEX workers_last_seen ON simjobs.workers (last_seen_at);
