-- Tables written by the catalog's reducers through database intents.
-- Values are scalars; structured values are stored as JSON text.

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
    version     INTEGER NOT NULL,
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
    item_count  INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    min_bytes   INTEGER,
    max_bytes   INTEGER,
    updated_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS onex_processed_envelopes (
    envelope_id  TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL
);
