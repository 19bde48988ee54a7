-- Leaderboard writes as a log: each group commit of a board appends ONE row holding the whole batch
-- (parallel arrays), instead of updating one indexed row per player on the acknowledgement path.
-- The board grain folds the log into leaderboard_entries in the background (compaction: one
-- set-based upsert, best entry per player) and on activation reads both. Durable truth for a board
-- = leaderboard_entries ∪ leaderboard_log, best entry per player (the view below).
CREATE TABLE IF NOT EXISTS leaderboard_log (
    board         text     NOT NULL,
    player_ids    text[]   NOT NULL,
    display_names text[]   NOT NULL,
    scores        bigint[] NOT NULL,
    achieved_ats  bigint[] NOT NULL
);
CREATE INDEX IF NOT EXISTS leaderboard_log_board_idx ON leaderboard_log (board);

-- Best entry per player per board, compacted or not: for reports, support queries and tests.
CREATE OR REPLACE VIEW leaderboard_best AS
SELECT DISTINCT ON (board, player_id) board, player_id, display_name, score, achieved_at
FROM (
    SELECT board, player_id, display_name, score, achieved_at FROM leaderboard_entries
    UNION ALL
    SELECT l.board, u.player_id, u.display_name, u.score, u.achieved_at
    FROM leaderboard_log AS l,
        unnest(l.player_ids, l.display_names, l.scores, l.achieved_ats) AS u (player_id, display_name, score, achieved_at)
) AS entries
ORDER BY board, player_id, score DESC, achieved_at ASC;
