-- Layer store state (DESIGN §10), so any replica sharing the database and the store can go on.
-- A resumable upload's running sha256 (Sha256State) and the store's opaque checkpoint
-- (an S3 multipart upload id, its parts with ETags, the pending small pieces).
ALTER TABLE uploads ADD COLUMN hash_state TEXT;
ALTER TABLE uploads ADD COLUMN store_state TEXT;

-- The object store keeps a layer at the key chosen when its upload started (no copy at commit);
-- this maps the layer's digest to that key. The filesystem store does not use it.
CREATE TABLE store_objects (
    digest     TEXT   PRIMARY KEY,                 -- lowercase hex sha256
    object_key TEXT   NOT NULL,
    size       BIGINT NOT NULL,
    created_at TEXT   NOT NULL                     -- ISO-8601 UTC
);
