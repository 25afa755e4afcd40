package io.strata.layer.qcow2;

/**
 * An upload failed one inspector {@link Check}. The message is written for the publisher: what is
 * wrong with their file and the command that fixes it.
 */
public final class Qcow2Exception extends Exception {
    private final Check check;

    public Qcow2Exception(Check check, String message) {
        super(message);
        this.check = check;
    }

    public Check check() { return check; }
}
