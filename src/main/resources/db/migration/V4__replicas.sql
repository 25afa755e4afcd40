-- Bumped by every transaction that changes what the catalog shows (publish, unpublish, aliases,
-- layers removed by garbage collection or recovery): replicas poll it to know when to reload.
ALTER TABLE catalog_meta ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- Parents of uploads in flight on replicas that share this database: garbage collection on any
-- replica keeps them (within one process an in-memory count does the same). A row outlives a
-- crashed replica, so readers ignore rows older than a day.
CREATE TABLE layer_pins (
    id     TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    since  TEXT NOT NULL
);
