-- Competitions (leaderboards and tournaments). Times are epoch milliseconds, as on the wire.

-- One row per player per board: the player's best score. The board grain rebuilds its in-memory
-- order-statistic tree from these rows on activation.
CREATE TABLE IF NOT EXISTS leaderboard_entries (
    board        text   NOT NULL,
    player_id    text   NOT NULL,
    display_name text   NOT NULL,
    score        bigint NOT NULL,
    achieved_at  bigint NOT NULL,
    PRIMARY KEY (board, player_id)
);

-- Every run offered to competitions, once (idempotency by run id) with what became of it.
CREATE TABLE IF NOT EXISTS competition_runs (
    run_id      text        PRIMARY KEY,
    game_id     text        NOT NULL,
    player_id   text        NOT NULL,
    score       bigint      NOT NULL,
    ended_at    bigint      NOT NULL,
    verdict     text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The tournament grain's own state and the listing index in one place (one source of truth).
CREATE TABLE IF NOT EXISTS tournaments (
    id           text   PRIMARY KEY,
    title        text   NOT NULL,
    game_id      text   NOT NULL,
    mode         text   NOT NULL,
    starts_at    bigint NOT NULL,
    ends_at      bigint NOT NULL,
    portal       text   NULL,
    prize        text   NULL,
    max_attempts int    NULL,
    status       text   NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS tournaments_game_idx ON tournaments (game_id, ends_at);
CREATE INDEX IF NOT EXISTS tournaments_open_idx ON tournaments (status) WHERE status IN ('upcoming', 'live');

CREATE TABLE IF NOT EXISTS tournament_entrants (
    tournament_id text   NOT NULL REFERENCES tournaments (id),
    player_id     text   NOT NULL,
    joined_at     bigint NOT NULL,
    PRIMARY KEY (tournament_id, player_id)
);
CREATE INDEX IF NOT EXISTS tournament_entrants_player_idx ON tournament_entrants (player_id);

-- Runs counted as attempts, keyed by run id so a retried delivery is never counted twice.
CREATE TABLE IF NOT EXISTS tournament_attempts (
    tournament_id text   NOT NULL REFERENCES tournaments (id),
    run_id        text   NOT NULL,
    player_id     text   NOT NULL,
    score         bigint NOT NULL,
    ended_at      bigint NOT NULL,
    PRIMARY KEY (tournament_id, run_id)
);
