-- Published images (simplestreams versions). The chain is resolved once, at publish time.
CREATE TABLE images (
    fingerprint   TEXT    PRIMARY KEY,              -- sha256 of the top layer
    product       TEXT    NOT NULL,                 -- os:release:arch:variant
    os            TEXT    NOT NULL,
    release       TEXT    NOT NULL,
    arch          TEXT    NOT NULL,
    variant       TEXT    NOT NULL,
    version       TEXT    NOT NULL,                 -- serial YYYYMMDD_HHMM
    release_title TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    properties    TEXT    NOT NULL,                 -- JSON object of strings
    chain         TEXT    NOT NULL,                 -- layer ids base first, space-separated
    download_size ${bigint} NOT NULL,
    virtual_size  ${bigint} NOT NULL,
    created_at    TEXT    NOT NULL,
    UNIQUE (product, version)
);
CREATE INDEX images_product ON images(product, version);

-- An alias names a product and resolves to its newest version.
CREATE TABLE aliases (
    name       TEXT PRIMARY KEY,
    product    TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX aliases_product ON aliases(product);

-- Every change of what an alias resolves to, kept forever.
CREATE TABLE alias_history (
    id          ${id_pk},
    name        TEXT NOT NULL,
    product     TEXT,                               -- NULL once the alias is deleted
    fingerprint TEXT,                               -- what it resolved to from then on (NULL: nothing)
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX alias_history_name ON alias_history(name, id);

-- When the catalog last changed (the index documents' "updated").
CREATE TABLE catalog_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    updated_at TEXT NOT NULL
);
INSERT INTO catalog_meta (id, updated_at) VALUES (1, '1970-01-01T00:00:00Z');
