-- Durable background jobs (io.strata.jobs). Any replica claims a due job by moving its lease
-- forward with a conditional UPDATE; a lease in the past (its holder crashed) is free again.
-- Times are epoch milliseconds so that every database compares them the same way.
CREATE TABLE jobs (
    id          TEXT   PRIMARY KEY,
    kind        TEXT   NOT NULL,                  -- which handler runs it, e.g. lxd-items
    target      TEXT   NOT NULL,                  -- what it works on, e.g. an image fingerprint
    state       TEXT   NOT NULL,                  -- pending | running | failed | done
    attempts    BIGINT NOT NULL DEFAULT 0,        -- claims so far (a crashed run counts)
    last_error  TEXT,                             -- why the last attempt failed
    lease_owner TEXT,                             -- the worker holding it, while running
    lease_until BIGINT NOT NULL DEFAULT 0,
    run_after   BIGINT NOT NULL DEFAULT 0,        -- not before this (backoff after a failure)
    created_at  TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL,
    UNIQUE (kind, target)
);
CREATE INDEX jobs_due ON jobs(state, run_after);

-- What Strata made for the LXD and Incus clients from one image (io.strata.lxd). A digest is
-- written here before its blob is committed to the layer store, so a blob in the store is always
-- named by a row (recovery and GC leave it alone); the row is ready once combined_sha256 is set.
CREATE TABLE lxd_items (
    fingerprint     TEXT   PRIMARY KEY,           -- the image (its top layer)
    meta_sha256     TEXT,                         -- lxd.tar.xz
    meta_size       BIGINT,
    disk_sha256     TEXT,                         -- the flattened, compressed qcow2 (disk-kvm.img)
    disk_size       BIGINT,
    combined_sha256 TEXT,                         -- sha256(meta || disk): the LXD fingerprint; NULL until both are stored
    created_at      TEXT   NOT NULL,
    updated_at      TEXT   NOT NULL
);
CREATE INDEX lxd_items_meta ON lxd_items(meta_sha256);
CREATE INDEX lxd_items_disk ON lxd_items(disk_sha256);
