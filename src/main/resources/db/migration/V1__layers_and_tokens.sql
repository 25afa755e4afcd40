-- Layers: one row per stored qcow2 file, committed only after the file is fsynced in place.
CREATE TABLE layers (
    digest        TEXT    PRIMARY KEY,            -- lowercase hex sha256 of the file's bytes
    size          ${bigint} NOT NULL,
    virtual_size  ${bigint} NOT NULL,
    parent        TEXT,                           -- the layer its backing_file names (no FK: recovery must drop a lost parent row)
    qcow2_version INTEGER NOT NULL,
    created_at    TEXT    NOT NULL                -- ISO-8601 UTC
);
CREATE INDEX layers_parent ON layers(parent);

-- Bearer tokens: only the sha256 of the secret is kept.
CREATE TABLE tokens (
    id          ${id_pk},
    name        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL UNIQUE,
    scopes      TEXT    NOT NULL,                 -- space-separated
    created_at  TEXT    NOT NULL,
    revoked_at  TEXT
);
