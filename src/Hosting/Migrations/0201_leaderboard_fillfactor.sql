-- Leave room in every page of leaderboard_entries so that a better score (same key, indexed
-- columns unchanged) is a HOT update: the new row version stays on its page and the primary-key
-- index is not touched. Applies to pages written from now on.
ALTER TABLE leaderboard_entries SET (fillfactor = 70);
