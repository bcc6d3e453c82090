-- Work-order collaboration (seed 003): orders and their steps, chat messages, progress logs,
-- customer temporary accounts, quick replies, the installation's licence and its activation
-- codes. Corrections over the seed's draft: timestamptz everywhere; UNIQUE (work_order_id,
-- step_code) and the composite FK from progress logs; a unique order code; CHECKs on every
-- status, priority, message type, confirmation mode, quantity and date range; the fields the
-- application uses (description, owner_name, watchers, derived totals, assignee_name); the
-- licence's tier (not "plan") and activation codes kept as hashes.
-- Locks: none beyond the new objects; safe on a live database.

CREATE SCHEMA IF NOT EXISTS workorders;

-- Keeps updated_at true on every UPDATE.
CREATE FUNCTION workorders.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- Generated order codes: WO-<yymmdd>-<number>.
CREATE SEQUENCE workorders.work_order_code_seq;

CREATE TABLE workorders.work_orders (
    id                      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    code                    text        NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    title                   text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description             text        NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    priority                text        NOT NULL DEFAULT 'MEDIUM' CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH')),
    status                  text        NOT NULL DEFAULT 'PLANNED'
                                        CHECK (status IN ('PLANNED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    owner_id                text        NOT NULL CHECK (length(owner_id) BETWEEN 1 AND 64),
    owner_name              text        NOT NULL CHECK (length(owner_name) BETWEEN 1 AND 100),
    -- The owner is always among the watchers; the application de-duplicates them.
    watchers                text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(watchers) <= 100),
    start_at                timestamptz,
    end_at                  timestamptz,
    target_quantity         integer     NOT NULL DEFAULT 0 CHECK (target_quantity >= 0),
    -- Sums over the steps, kept in the same transaction as every step change.
    completed_quantity      integer     NOT NULL DEFAULT 0 CHECK (completed_quantity >= 0),
    defective_quantity      integer     NOT NULL DEFAULT 0 CHECK (defective_quantity >= 0),
    procurement_auto_notify boolean     NOT NULL DEFAULT false,
    target_factory_id       text        CHECK (length(target_factory_id) <= 64),
    target_factory_name     text        CHECK (length(target_factory_name) <= 200),
    version                 bigint      NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (end_at >= start_at)
);

CREATE INDEX work_orders_newest ON workorders.work_orders (created_at DESC, id DESC);
CREATE INDEX work_orders_status ON workorders.work_orders (status, created_at DESC, id DESC);
CREATE INDEX work_orders_owner ON workorders.work_orders (owner_id, created_at DESC, id DESC);

CREATE TRIGGER work_orders_touch BEFORE UPDATE ON workorders.work_orders
    FOR EACH ROW EXECUTE FUNCTION workorders.touch_updated_at();

CREATE TABLE workorders.work_order_steps (
    id                      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    work_order_id           uuid        NOT NULL REFERENCES workorders.work_orders (id) ON DELETE CASCADE,
    position                smallint    NOT NULL CHECK (position >= 0),
    step_code               text        NOT NULL CHECK (step_code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    step_name               text        NOT NULL CHECK (length(step_name) BETWEEN 1 AND 100),
    assignee_id             text        NOT NULL DEFAULT '' CHECK (length(assignee_id) <= 64),
    assignee_name           text        NOT NULL DEFAULT '' CHECK (length(assignee_name) <= 100),
    expected_quantity       integer     NOT NULL CHECK (expected_quantity >= 0),
    completed_quantity      integer     NOT NULL DEFAULT 0 CHECK (completed_quantity >= 0),
    defective_quantity      integer     NOT NULL DEFAULT 0 CHECK (defective_quantity >= 0),
    estimated_completion_at timestamptz,
    status                  text        NOT NULL DEFAULT 'PLANNED' CHECK (status IN ('PLANNED', 'IN_PROGRESS', 'COMPLETED')),
    UNIQUE (work_order_id, step_code),
    UNIQUE (work_order_id, position),
    CHECK (completed_quantity <= expected_quantity)
);

CREATE TABLE workorders.work_order_progress_logs (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id      uuid        NOT NULL,
    step_code          text        NOT NULL,
    -- What was applied after clamping (completed never passes the step's expected quantity).
    completed_quantity integer     NOT NULL CHECK (completed_quantity >= 0),
    defective_quantity integer     NOT NULL CHECK (defective_quantity >= 0),
    -- What was reported, when it differs from what was applied.
    reported_quantity  integer     NOT NULL CHECK (reported_quantity >= 0),
    confirmation_mode  text        NOT NULL CHECK (confirmation_mode IN ('fingerprint', 'dual')),
    confirmed_by       text[]      NOT NULL CHECK (cardinality(confirmed_by) BETWEEN 1 AND 2),
    reporter           text        CHECK (length(reporter) <= 64),
    note               text        CHECK (length(note) <= 200),
    confirmed_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (work_order_id, step_code) REFERENCES workorders.work_order_steps (work_order_id, step_code)
        ON UPDATE CASCADE ON DELETE CASCADE,
    CHECK (confirmation_mode <> 'dual' OR cardinality(confirmed_by) = 2)
);

CREATE INDEX work_order_progress_logs_order ON workorders.work_order_progress_logs (work_order_id, id);

CREATE TABLE workorders.work_order_messages (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id uuid        NOT NULL REFERENCES workorders.work_orders (id) ON DELETE CASCADE,
    message_type  text        NOT NULL CHECK (message_type IN ('text', 'voice', 'attachment', 'excel', 'system')),
    role          text        NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'customer', 'bot', 'system')),
    body          text        NOT NULL DEFAULT '' CHECK (length(body) <= 4000),
    -- Files live in object storage; the row keeps the key, never the bytes.
    object_key    text        CHECK (length(object_key) <= 1024),
    file_name     text        CHECK (length(file_name) <= 255),
    content_type  text        CHECK (length(content_type) <= 200),
    file_size     bigint      CHECK (file_size >= 0),
    payload       jsonb       NOT NULL DEFAULT '{}',
    created_by    text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((message_type IN ('attachment', 'excel', 'voice')) = (object_key IS NOT NULL))
);

CREATE INDEX work_order_messages_order ON workorders.work_order_messages (work_order_id, id);

-- How far each reader has read an order's messages: the source the unread counters in Redis
-- are rebuilt from.
CREATE TABLE workorders.message_reads (
    work_order_id uuid        NOT NULL REFERENCES workorders.work_orders (id) ON DELETE CASCADE,
    reader        text        NOT NULL CHECK (length(reader) BETWEEN 1 AND 100),
    last_read_id  bigint      NOT NULL CHECK (last_read_id >= 0),
    read_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reader, work_order_id)
);

CREATE INDEX work_orders_watchers ON workorders.work_orders USING GIN (watchers);

CREATE TABLE workorders.customer_accesses (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    work_order_id uuid        NOT NULL REFERENCES workorders.work_orders (id) ON DELETE CASCADE,
    customer_name text        NOT NULL CHECK (length(customer_name) BETWEEN 1 AND 100),
    company       text        CHECK (length(company) <= 200),
    contact_phone text        CHECK (length(contact_phone) <= 32),
    login         text        NOT NULL UNIQUE CHECK (login ~ '^cust-[a-z0-9]{8}$'),
    -- bcrypt; the password is shown once, at creation.
    password_hash text        NOT NULL CHECK (password_hash LIKE '$2%'),
    status        text        NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CONFIRMED')),
    confirmed_by  text        CHECK (length(confirmed_by) <= 64),
    created_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_at  timestamptz,
    CHECK ((status = 'CONFIRMED') = (confirmed_at IS NOT NULL))
);

-- One access per order (the application's rule): a new one replaces the old.
CREATE UNIQUE INDEX customer_accesses_order ON workorders.customer_accesses (work_order_id);

CREATE TABLE workorders.quick_replies (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Insertion order: a user's phrases are listed as they were added.
    seq        bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    owner_id   text        NOT NULL CHECK (length(owner_id) BETWEEN 1 AND 64),
    role       text        NOT NULL DEFAULT 'member' CHECK (role ~ '^[a-z_]{1,32}$'),
    content    text        NOT NULL CHECK (length(content) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, content)
);

CREATE TRIGGER quick_replies_touch BEFORE UPDATE ON workorders.quick_replies
    FOR EACH ROW EXECUTE FUNCTION workorders.touch_updated_at();

-- The installation's licence: one row (id 1), created inactive.
CREATE TABLE workorders.licenses (
    id                smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    tier              text        CHECK (tier IN ('starter', 'professional', 'enterprise')),
    status            text        NOT NULL DEFAULT 'inactive' CHECK (status IN ('inactive', 'active', 'suspended', 'expired')),
    activated_at      timestamptz,
    expires_at        timestamptz,
    suspended_at      timestamptz,
    suspension_reason text        CHECK (length(suspension_reason) <= 500),
    seats             integer     CHECK (seats > 0),
    ocr_credits       integer     CHECK (ocr_credits >= 0),
    last_action_at    timestamptz,
    last_action_by    text        CHECK (length(last_action_by) <= 64),
    metadata          jsonb       NOT NULL DEFAULT '{}',
    version           bigint      NOT NULL DEFAULT 1,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'inactive') = (tier IS NULL)),
    CHECK (status = 'inactive' OR (activated_at IS NOT NULL AND expires_at IS NOT NULL))
);

INSERT INTO workorders.licenses (id) VALUES (1);

CREATE TRIGGER licenses_touch BEFORE UPDATE ON workorders.licenses
    FOR EACH ROW EXECUTE FUNCTION workorders.touch_updated_at();

-- Activation codes: the public lookup part in clear, the whole code as a bcrypt hash.
CREATE TABLE workorders.license_activation_codes (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    lookup        text        NOT NULL UNIQUE CHECK (lookup ~ '^[A-Z0-9]{8}$'),
    code_hash     text        NOT NULL CHECK (code_hash LIKE '$2%'),
    tier          text        NOT NULL CHECK (tier IN ('starter', 'professional', 'enterprise')),
    duration_days integer     NOT NULL CHECK (duration_days IN (90, 180, 365)),
    purpose       text        NOT NULL CHECK (purpose IN ('activation', 'renewal', 'upgrade')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    used_at       timestamptz,
    used_by       text        CHECK (length(used_by) <= 64),
    CHECK ((used_at IS NULL) = (used_by IS NULL))
);
