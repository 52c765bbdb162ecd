-- A version per row of the metrics and session reducers, for conditional writes: their upsert
-- intents name `version_column` = `version`, and the database node replaces a stored row only if
-- its version is the new row's minus one (as `onex_entity_states` does since 0001). Of two runs that
-- read and fold the same version, the second gets CONFLICT instead of overwriting the first.
-- Rows stored before this file read as version 0, so the next write (version 1) replaces them.

ALTER TABLE onex_metrics ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE onex_sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
