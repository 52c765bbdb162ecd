-- Tables written by the catalog's reducers through database intents (mirrors sqlite/0001_core.sql).
-- Values are scalars; structured values are stored as JSON text, times as UTC ISO-8601 text,
-- and integers as BIGINT (SQLite's INTEGER is 64-bit).

CREATE TABLE IF NOT EXISTS onex_sessions (
    session_id   TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    status       TEXT NOT NULL,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL,
    refreshed_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS onex_entity_states (
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    state       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
);

CREATE TABLE IF NOT EXISTS onex_cache_entries (
    namespace  TEXT NOT NULL,
    cache_key  TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (namespace, cache_key)
);

CREATE TABLE IF NOT EXISTS onex_metrics (
    namespace   TEXT PRIMARY KEY,
    item_count  BIGINT NOT NULL,
    total_bytes BIGINT NOT NULL,
    min_bytes   BIGINT,
    max_bytes   BIGINT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS onex_processed_envelopes (
    envelope_id  TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL
);
