-- Defect images (the seed's MinIO bucket `defect-images`): the bytes live in the platform's
-- object store under `factory/defect-images/…`; this table keeps each image's key, its detected
-- media type, size and SHA-256, on its anomaly's line (scoped like the anomaly).
-- Locks: none beyond the new objects.

CREATE TABLE factory.defect_images (
    image_id     uuid        PRIMARY KEY,
    anomaly_id   uuid        NOT NULL,
    factory_id   text        NOT NULL,
    line_id      text        NOT NULL,
    object_key   text        NOT NULL UNIQUE,
    file_name    text        NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    content_type text        NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/bmp', 'image/tiff')),
    size         bigint      NOT NULL CHECK (size > 0),
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (anomaly_id, factory_id, line_id) REFERENCES factory.anomalies (anomaly_id, factory_id, line_id) ON DELETE CASCADE
);
CREATE INDEX defect_images_anomaly_idx ON factory.defect_images (anomaly_id, created_at);

ALTER TABLE factory.defect_images ENABLE ROW LEVEL SECURITY;
CREATE POLICY scoped ON factory.defect_images USING (factory.in_scope(factory_id, line_id))
    WITH CHECK (factory.in_scope(factory_id, line_id));
GRANT SELECT, INSERT, DELETE ON factory.defect_images TO strata_factory_scoped;
