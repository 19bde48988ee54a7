-- Engine telemetry (PROTOCOL §3): raw events, append-only; every counter is derived from them.

-- The portal registry: data, not code. A referrer host matches a row when it equals host_suffix
-- or ends with '.' || host_suffix; the longest matching suffix wins.
CREATE TABLE IF NOT EXISTS telemetry_portals (
    portal text PRIMARY KEY,
    display_name text NOT NULL,
    sort_order int NOT NULL DEFAULT 0);

CREATE TABLE IF NOT EXISTS telemetry_portal_hosts (
    host_suffix text PRIMARY KEY,
    portal text NOT NULL REFERENCES telemetry_portals (portal));

INSERT INTO telemetry_portals (portal, display_name, sort_order) VALUES
    ('playgama', 'Playgama', 10),
    ('y8', 'Y8', 20),
    ('discord', 'Discord Activities', 30),
    ('gamepix', 'GamePix', 40),
    ('crazygames', 'CrazyGames', 50),
    ('playmusic', 'PlayMusic', 60)
ON CONFLICT (portal) DO NOTHING;

INSERT INTO telemetry_portal_hosts (host_suffix, portal) VALUES
    ('y8.com', 'y8'),
    ('playgama.com', 'playgama'),
    ('playgama.net', 'playgama'),
    ('discord.com', 'discord'),
    ('discordapp.com', 'discord'),
    ('discordsays.com', 'discord'),
    ('gamepix.com', 'gamepix'),
    ('crazygames.com', 'crazygames'),
    ('playmusic.gg', 'playmusic')
ON CONFLICT (host_suffix) DO NOTHING;

CREATE TABLE IF NOT EXISTS telemetry_sessions (
    session_id uuid PRIMARY KEY,
    load_id uuid NOT NULL,
    player_id text NOT NULL,
    display_name text NOT NULL,
    game_id text NOT NULL,
    mode text NOT NULL,
    portal text NOT NULL,
    referrer_host text,
    country text,
    device_tier text,
    engine_version text,
    started_at timestamptz NOT NULL);

CREATE INDEX IF NOT EXISTS telemetry_sessions_load ON telemetry_sessions (load_id);
CREATE INDEX IF NOT EXISTS telemetry_sessions_portal_day ON telemetry_sessions (portal, started_at);
CREATE INDEX IF NOT EXISTS telemetry_sessions_player ON telemetry_sessions (player_id, started_at, session_id);
CREATE INDEX IF NOT EXISTS telemetry_sessions_player_game ON telemetry_sessions (player_id, game_id, started_at, session_id);

-- One perf report per session: the primary key is what turns a second report into 409.
CREATE TABLE IF NOT EXISTS telemetry_perf (
    session_id uuid PRIMARY KEY REFERENCES telemetry_sessions (session_id),
    download_ms int NOT NULL,
    config_ms int NOT NULL,
    assets_ms int NOT NULL,
    audio_ms int NOT NULL,
    gateway_ms int,
    received_at timestamptz NOT NULL);

-- The first end of a session is kept; later ones are idempotent repeats.
CREATE TABLE IF NOT EXISTS telemetry_session_ends (
    session_id uuid PRIMARY KEY REFERENCES telemetry_sessions (session_id),
    score bigint NOT NULL,
    duration_ms bigint NOT NULL,
    completed boolean NOT NULL,
    ended_at timestamptz NOT NULL);

CREATE TABLE IF NOT EXISTS telemetry_dropouts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    load_id uuid NOT NULL,
    game_id text NOT NULL,
    portal text NOT NULL,
    referrer_host text,
    stage text NOT NULL,
    elapsed_ms int NOT NULL,
    country text,
    device_tier text,
    received_at timestamptz NOT NULL);

CREATE INDEX IF NOT EXISTS telemetry_dropouts_load ON telemetry_dropouts (load_id, id);
CREATE INDEX IF NOT EXISTS telemetry_dropouts_portal_day ON telemetry_dropouts (portal, received_at);
