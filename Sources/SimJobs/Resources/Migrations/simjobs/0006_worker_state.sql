-- One definition of a worker's state, for every query that asks: 'stopped' (shut down
-- cleanly), 'online' (seen within three heartbeat intervals) or 'offline' (silent longer:
-- presumed dead). simjobs.online_workers lists the online ones. Locks: none beyond the new
-- objects.

CREATE FUNCTION simjobs.worker_state(w simjobs.workers) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'
                WHEN w.last_seen_at > now() - 3 * w.heartbeat_seconds * interval '1 second' THEN 'online'
                ELSE 'offline' END
$$;

CREATE VIEW simjobs.online_workers AS
    SELECT * FROM simjobs.workers AS w WHERE simjobs.worker_state(w) = 'online';
