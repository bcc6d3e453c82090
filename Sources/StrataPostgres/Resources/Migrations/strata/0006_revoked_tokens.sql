-- Signed-out JWTs: a token listed here is refused until it would have expired anyway.
-- Locks: none beyond the new objects; safe on a live database.

CREATE TABLE strata.revoked_tokens (
    token_id   text        PRIMARY KEY CHECK (length(token_id) BETWEEN 1 AND 100),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX revoked_tokens_expiry ON strata.revoked_tokens (expires_at);

COMMENT ON TABLE strata.revoked_tokens IS 'JWT ids revoked before their expiry (logout); rows past expires_at can be deleted';
