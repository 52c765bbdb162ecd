-- A version per row of the metrics and session reducers, for conditional writes
-- (mirrors sqlite/0004_reducer_versions.sql). Rows stored before this file read as version 0.
-- A constant default adds the column without rewriting the table (PostgreSQL 11+).

ALTER TABLE onex_metrics ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE onex_sessions ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
