-- The audit_logs tables the seeds of two apps name, as views over strata.audit_log with the
-- seeds' columns, so that those apps' queries and reports read the one audit log.
-- The apps' own migrations create the rest of their schemas (CREATE SCHEMA IF NOT EXISTS).
-- Locks: none beyond the new objects; safe on a live database.

CREATE SCHEMA IF NOT EXISTS factory;
CREATE SCHEMA IF NOT EXISTS helpdesk;

-- Seed 000 (factory): log_id, user_id, action, resource_type, resource_id, ip_address,
-- user_agent, request_body, response_status, created_at.
CREATE VIEW factory.audit_logs AS
SELECT id               AS log_id,
       actor            AS user_id,
       action,
       resource_type,
       resource_id,
       host(ip)         AS ip_address,
       user_agent,
       request_body,
       response_status::integer AS response_status,
       occurred_at      AS created_at,
       request_id,
       trace_id
FROM strata.audit_log
WHERE app = 'factory';

COMMENT ON VIEW factory.audit_logs IS 'Seed 000''s audit_logs: the factory app''s entries of strata.audit_log';

-- Seed 001 (helpdesk): ticket audit — audit_id, ticket_id, event_type, operator_id,
-- operator_name, details, created_at.
CREATE VIEW helpdesk.audit_logs AS
SELECT id                         AS audit_id,
       resource_id                AS ticket_id,
       action                     AS event_type,
       actor                      AS operator_id,
       details ->> 'operator_name' AS operator_name,
       details,
       occurred_at                AS created_at
FROM strata.audit_log
WHERE app = 'helpdesk' AND resource_type = 'ticket' AND resource_id IS NOT NULL;

COMMENT ON VIEW helpdesk.audit_logs IS 'Seed 001''s audit_logs: the helpdesk app''s ticket entries of strata.audit_log';
