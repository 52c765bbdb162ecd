-- Records of features: JSON documents in named collections (mirrors sqlite/0002_records.sql).
-- The document is JSON text, as on SQLite, so both backends return it unchanged.

CREATE TABLE IF NOT EXISTS onex_records (
    collection TEXT NOT NULL,
    record_key TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (collection, record_key)
);
