-- Idempotency keys are written in the transaction of the change they answer, with its
-- response, and a request that runs holds a transaction-scoped advisory lock instead of a row:
-- a key is stored answered or not at all. The in-flight state and its takeover deadline go.
-- Locks: ACCESS EXCLUSIVE on strata.idempotency_keys for the column drops (no rewrite; the
-- table holds at most a day of keys).

DELETE FROM strata.idempotency_keys WHERE state <> 'done';

ALTER TABLE strata.idempotency_keys
    DROP COLUMN state,
    DROP COLUMN locked_until,
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN headers SET NOT NULL,
    ALTER COLUMN body SET NOT NULL;

COMMENT ON TABLE strata.idempotency_keys IS 'First responses to requests with an Idempotency-Key, per principal and route, for 24 hours, committed with the change they answer';
