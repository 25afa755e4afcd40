-- Tokens get an expiry, a last use (time and client address, written at most once a minute) and an
-- optional quota of bytes uploaded but not yet in any published image. Rows made before this
-- migration keep NULL: no expiry until an admin sets one, no quota.
ALTER TABLE tokens ADD COLUMN expires_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_from TEXT;
ALTER TABLE tokens ADD COLUMN quota_bytes BIGINT;

-- The token that opened a resumable session (NULL for sessions from before): bounds open sessions per token.
ALTER TABLE uploads ADD COLUMN token_id BIGINT;
CREATE INDEX uploads_token ON uploads(token_id);

-- The token whose upload first stored a layer (NULL for older layers): its quota counts the layer until an image uses it.
ALTER TABLE layers ADD COLUMN uploaded_by BIGINT;
CREATE INDEX layers_uploaded_by ON layers(uploaded_by);

-- Append-only audit log of every write and every refused attempt. The id is assigned by the
-- application (max + 1 in the insert), so the same SQL runs on SQLite and PostgreSQL; it is the
-- paging cursor. Never a token secret: only the token's id and name.
CREATE TABLE audit_log (
    id         BIGINT  PRIMARY KEY,
    at         TEXT    NOT NULL,                  -- ISO-8601 UTC
    token_id   BIGINT,                            -- NULL: no valid token, or the operator's local command
    token_name TEXT,
    address    TEXT    NOT NULL,                  -- client address, or 'local' for the CLI
    action     TEXT    NOT NULL,                  -- e.g. image.publish, alias.set, request (for a refusal)
    target     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,                  -- ok | failed | denied
    status     INTEGER NOT NULL,                  -- HTTP status answered (0 for local commands)
    reason     TEXT                               -- why it failed or was denied
);
