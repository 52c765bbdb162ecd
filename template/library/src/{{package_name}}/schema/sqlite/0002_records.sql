-- Records of features: JSON documents in named collections, so a feature can keep
-- its domain records (a user, a stamp) without a table of its own. Written and read
-- through the database node's record methods (insert_record, get_record, ...).

CREATE TABLE IF NOT EXISTS onex_records (
    collection TEXT NOT NULL,
    record_key TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (collection, record_key)
);
