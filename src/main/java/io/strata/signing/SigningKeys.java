package io.strata.signing;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.util.Base64;
import java.util.Optional;

/** Where the registry's signing key comes from: a file the operator names, or the database (made there on first start). */
public final class SigningKeys {
    private static final Logger LOG = LoggerFactory.getLogger(SigningKeys.class);

    private SigningKeys() {}

    /** The key in {@code file} ({@code serve --signing-key}). */
    public static SigningKey fromFile(Path file) throws IOException {
        SigningKey key = SigningKey.readPem(file);
        LOG.info("signing the index with key {} from {}", key.keyIdHex(), file);
        return key;
    }

    /**
     * The database's key, made and stored on the first start. Two replicas starting at once both
     * insert; the database keeps one row and both read it back.
     */
    public static SigningKey fromDatabase(SigningKeyDao dao, Clock clock) throws IOException {
        Optional<String> stored = dao.find();
        if (stored.isEmpty()) {
            SigningKey made = SigningKey.generate();
            if (dao.insertIfAbsent(Base64.getEncoder().encodeToString(made.pkcs8()), clock.instant().toString()) == 1) {
                LOG.info("made the signing key {}; clients can pin it from /strata.pub", made.keyIdHex());
            }
            stored = dao.find();
        }
        try {
            return SigningKey.fromPkcs8(Base64.getDecoder().decode(stored.orElseThrow()));
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            throw new IOException("the signing key stored in the database (table signing_key) is unreadable: " + e.getMessage()
                    + "; restore it from a backup, or delete the row to make a new key (clients that pinned the old one must fetch /strata.pub again)");
        }
    }
}
