-- Alert rules name where their alerts go: 'log' (the server's log) and 'webhook' (the
-- configured alert receiver). The default rules log. Locks: the CHECK is validated with a
-- brief lock on the small alert_rules table.

ALTER TABLE simjobs.alert_rules
    ADD CONSTRAINT alert_rules_notify_channels CHECK (notify_channels <@ ARRAY['log', 'webhook']::text[]);

UPDATE simjobs.alert_rules SET notify_channels = '{log}' WHERE notify_channels = '{}';
