-- Bumped by every transaction that changes what the catalog shows (publish, unpublish, aliases,
-- layers removed by garbage collection or recovery): replicas poll it to know when to reload.
ALTER TABLE catalog_meta ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
