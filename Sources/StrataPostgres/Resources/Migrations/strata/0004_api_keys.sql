-- API keys: a key is shown once at creation; only its SHA-256 is stored, found by its public
-- prefix. Permissions, a per-minute rate limit, expiry and revocation are per key.
-- Locks: none beyond the new objects; safe on a live database.

CREATE TABLE strata.api_keys (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix                text        NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{8}$'),
    key_hash              bytea       NOT NULL CHECK (length(key_hash) = 32),
    permissions           text[]      NOT NULL DEFAULT '{}',
    scopes                jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(scopes) = 'object'),
    rate_limit_per_minute integer     NOT NULL DEFAULT 100 CHECK (rate_limit_per_minute BETWEEN 1 AND 1000000),
    active                boolean     NOT NULL DEFAULT true,
    expires_at            timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    revoked_at            timestamptz,
    last_used_at          timestamptz,
    CHECK (active OR revoked_at IS NOT NULL)
);

COMMENT ON TABLE strata.api_keys IS 'API keys: SHA-256 of the key, public prefix for lookup; the key itself is never stored';
COMMENT ON COLUMN strata.api_keys.last_used_at IS 'Updated in batches (at most every 30 s per server), not on every request';
