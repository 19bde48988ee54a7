-- A portal id is what sessions store, what leaderboard scopes (portal:{id}) and tournaments name, and what
-- an explicit `portal` in a request is matched against after lowercasing: 1 to 32 characters of a-z 0-9 _ -.
-- A registry row with another id could never be asked for, so it is refused when it is inserted.
-- NOT VALID: rows already there are not checked, so a database that has one still starts.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'telemetry_portals_id_format') THEN
        ALTER TABLE telemetry_portals ADD CONSTRAINT telemetry_portals_id_format CHECK (portal ~ '^[a-z0-9_-]{1,32}$') NOT VALID;
    END IF;
END $$;
