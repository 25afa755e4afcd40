package io.strata.lxd;

import java.util.Optional;

/**
 * Where one image's LXD items are. Only images among the newest {@code --lxd-versions} of their
 * product have one; the others are for layer-aware clients only.
 *
 * @param items    present exactly when {@code state} is READY
 * @param error    why the last attempt failed, when FAILED (it is retried)
 * @param attempts how many times the job ran so far
 */
public record LxdStatus(State state, Optional<LxdItems> items, Optional<String> error, long attempts) {
    public enum State {
        /** Queued or being made. */
        PREPARING,
        /** The last attempt failed; it is retried with backoff. */
        FAILED,
        /** Both files are stored; images.json lists them. */
        READY;

        public String label() { return name().toLowerCase(java.util.Locale.ROOT); }
    }

    public static LxdStatus ready(LxdItems items) { return new LxdStatus(State.READY, Optional.of(items), Optional.empty(), 0); }
}
