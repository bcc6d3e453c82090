-- Idempotency keys: the first response to a create with an Idempotency-Key, kept for 24 h so
-- that a retry gets the same response byte for byte instead of a second create.
-- Locks: none beyond the new objects; safe on a live database.

CREATE TABLE strata.idempotency_keys (
    principal    text        NOT NULL CHECK (length(principal) BETWEEN 1 AND 200),
    route        text        NOT NULL CHECK (length(route) BETWEEN 1 AND 600),
    key          text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint  bytea       NOT NULL CHECK (length(fingerprint) = 32),
    state        text        NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'done')),
    locked_until timestamptz NOT NULL DEFAULT now() + interval '60 seconds',
    status       smallint    CHECK (status BETWEEN 100 AND 599),
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (principal, route, key),
    CHECK (state = 'in_flight' OR status IS NOT NULL)
);

CREATE INDEX idempotency_keys_expiry ON strata.idempotency_keys (expires_at);

COMMENT ON TABLE strata.idempotency_keys IS 'First responses to requests with an Idempotency-Key, per principal and route, for 24 hours';
COMMENT ON COLUMN strata.idempotency_keys.locked_until IS 'An in-flight request older than this (its server died) may be taken over by a retry';
