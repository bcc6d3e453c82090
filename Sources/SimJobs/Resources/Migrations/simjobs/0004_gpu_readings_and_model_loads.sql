-- What workers measure and hold: each heartbeat stores the worker's GPU readings (free and
-- total memory, temperature, utilisation, from its GPU probe), which the GPU memory and
-- temperature alert rules evaluate; model_loads records which model is loaded, or asked to
-- be loaded or unloaded, on which worker's GPU. models.is_loaded / loaded_gpu_id summarise it
-- (the lowest GPU holding the model). Locks: ALTER TABLE ... ADD COLUMN with a constant
-- default takes a brief ACCESS EXCLUSIVE lock on simjobs.workers and rewrites nothing.

ALTER TABLE simjobs.workers
    ADD COLUMN gpu_readings jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(gpu_readings) = 'array'),
    ADD COLUMN gpu_readings_at timestamptz;

CREATE TABLE simjobs.model_loads (
    model_name   text        NOT NULL REFERENCES simjobs.models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    worker_name  text        NOT NULL REFERENCES simjobs.workers (name) ON DELETE CASCADE,
    gpu_id       smallint    NOT NULL CHECK (gpu_id >= 0),
    state        text        NOT NULL CHECK (state IN ('loading', 'loaded', 'unloading', 'failed')),
    message      text        CHECK (length(message) <= 2000),
    requested_by text        CHECK (length(requested_by) <= 200),
    requested_at timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, worker_name, gpu_id)
);

CREATE INDEX model_loads_worker ON simjobs.model_loads (worker_name, state);
CREATE TRIGGER model_loads_touch BEFORE UPDATE ON simjobs.model_loads FOR EACH ROW EXECUTE FUNCTION simjobs.touch_updated_at();

-- Keeps models.is_loaded / loaded_gpu_id true to model_loads.
CREATE FUNCTION simjobs.summarise_model_loads() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    affected text;
BEGIN
    FOR affected IN
        SELECT DISTINCT name FROM (
            SELECT NEW.model_name AS name WHERE TG_OP <> 'DELETE'
            UNION ALL SELECT OLD.model_name WHERE TG_OP <> 'INSERT'
        ) AS changed
    LOOP
        UPDATE simjobs.models AS m
        SET loaded_gpu_id = l.gpu_id, is_loaded = l.gpu_id IS NOT NULL
        FROM (SELECT min(gpu_id) AS gpu_id FROM simjobs.model_loads WHERE model_name = affected AND state = 'loaded') AS l
        WHERE m.name = affected AND (m.loaded_gpu_id IS DISTINCT FROM l.gpu_id);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER model_loads_summary AFTER INSERT OR UPDATE OR DELETE ON simjobs.model_loads
    FOR EACH ROW EXECUTE FUNCTION simjobs.summarise_model_loads();
