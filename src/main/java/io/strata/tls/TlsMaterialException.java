package io.strata.tls;

import java.io.IOException;

/**
 * Certificate or key files that cannot be served. The message is one line saying which file is
 * wrong and what to do; it never contains key material.
 */
public final class TlsMaterialException extends IOException {
    public TlsMaterialException(String message) {
        super(message);
    }
}
