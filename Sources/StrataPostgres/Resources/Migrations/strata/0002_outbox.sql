-- The transactional outbox: every change's event, written in the change's own transaction and
-- relayed afterwards to Redis Streams (strata:events:<app>).
--
-- Relay order: rows are read in id order and given a gap-free relay `sequence` in one short
-- transaction; that sequence is the event's position in its stream (entry id 0-<sequence>) and
-- the cursor live clients resume from. Rows never get a sequence before they are committed
-- and visible, so a transaction that commits after a later id is sequenced later, never
-- skipped (there is no "last id" cursor that could pass it by).
-- Locks: none beyond the new objects; safe on a live database.

CREATE TABLE strata.outbox (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app            text        NOT NULL CHECK (app ~ '^[a-z][a-z0-9_]{0,62}$'),
    aggregate_type text        NOT NULL CHECK (length(aggregate_type) BETWEEN 1 AND 100),
    aggregate_id   text        NOT NULL CHECK (length(aggregate_id) BETWEEN 1 AND 200),
    kind           text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 200),
    payload        jsonb       NOT NULL DEFAULT '{}',
    actor          text,
    request_id     text,
    cache_keys     text[]      NOT NULL DEFAULT '{}',
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    sequence       bigint      UNIQUE,
    sequenced_at   timestamptz,
    CHECK ((sequence IS NULL) = (sequenced_at IS NULL))
);

COMMENT ON TABLE strata.outbox IS 'Events of committed changes, relayed in order to Redis Streams; kept for the replay window';
COMMENT ON COLUMN strata.outbox.sequence IS 'Relay position (gap-free, increasing); the stream entry id is 0-<sequence>';
COMMENT ON COLUMN strata.outbox.cache_keys IS 'Redis keys the relay deletes when it publishes the event';

-- What the relay reads next: unsequenced rows by id.
CREATE INDEX outbox_unsequenced ON strata.outbox (id) WHERE sequence IS NULL;
-- Catch-up for live clients of one app, by position.
CREATE INDEX outbox_app_sequence ON strata.outbox (app, sequence) WHERE sequence IS NOT NULL;

-- The relay's progress: positions handed out, and positions known to be in Redis.
CREATE TABLE strata.outbox_relay (
    name               text        PRIMARY KEY,
    last_sequence      bigint      NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    published_sequence bigint      NOT NULL DEFAULT 0 CHECK (published_sequence BETWEEN 0 AND last_sequence),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE strata.outbox_relay IS 'Relay progress: sequences up to published_sequence are in Redis; up to last_sequence are assigned';

INSERT INTO strata.outbox_relay (name) VALUES ('main');
