package io.strata.client;

import java.io.IOException;

/**
 * A failure of {@code pull}, {@code push} or the cache that the user can act on. The message says
 * what happened and what to do next; the command line prints it as one line, without a stack trace.
 */
public class ClientException extends IOException {
    public ClientException(String message) { super(message); }

    public ClientException(String message, Throwable cause) { super(message, cause); }
}
