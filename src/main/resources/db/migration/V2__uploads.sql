-- Resumable upload sessions; the bytes live in uploads/<id>.part, the row says how many are durable.
CREATE TABLE uploads (
    id         TEXT    PRIMARY KEY,
    received   ${bigint} NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
