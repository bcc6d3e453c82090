-- Permissions name their app: the routes of this app ask for simjobs.read, simjobs.write and
-- simjobs.admin. Keys made before, with the bare verbs this app asked for, keep exactly the
-- access they had here and no longer reach other apps. `admin` stays: it is every permission.
UPDATE strata.api_keys
SET permissions = ARRAY(
    SELECT CASE WHEN permission IN ('read', 'write') THEN 'simjobs.' || permission ELSE permission END
    FROM unnest(permissions) WITH ORDINALITY AS held(permission, position)
    ORDER BY position
)
WHERE permissions && ARRAY['read', 'write']::text[];
