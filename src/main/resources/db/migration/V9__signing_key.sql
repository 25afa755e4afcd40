-- The Ed25519 key that signs the index documents (DESIGN §12): one row, the private key in PKCS#8,
-- base64. Kept with the metadata so that every replica on a shared database signs with the same
-- key and a moved registry (strata migrate) keeps it; serve --signing-key FILE keeps it out of the
-- database instead.
CREATE TABLE signing_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);
