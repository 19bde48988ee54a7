-- The unrecorded-runs sweep (UnrecordedRunsSweep) looks for completed ends of the last day that have no
-- competition_runs row: only completed ends are indexed, by when they ended.
CREATE INDEX IF NOT EXISTS telemetry_session_ends_completed_idx ON telemetry_session_ends (ended_at) WHERE completed;
