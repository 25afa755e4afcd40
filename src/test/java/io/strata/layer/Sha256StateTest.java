package io.strata.layer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.security.MessageDigest;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Sha256StateTest {
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 63, 64, 65, 1000, 100_003})
    void a_saved_state_restored_in_a_fresh_digest_continues_to_the_same_hash(int split) {
        assertTrue(Sha256State.available(), "the tests run with the --add-opens the jar's manifest has");
        byte[] bytes = new byte[200_000];
        new Random(split).nextBytes(bytes);
        MessageDigest first = Digest.sha256();
        first.update(bytes, 0, split);
        String saved = Sha256State.save(first).orElseThrow();
        MessageDigest resumed = Sha256State.restore(saved).orElseThrow();
        resumed.update(bytes, split, bytes.length - split);
        assertArrayEquals(Digest.sha256().digest(bytes), resumed.digest());
        // Saving does not disturb the original.
        first.update(bytes, split, bytes.length - split);
        assertArrayEquals(Digest.sha256().digest(bytes), first.digest());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "not base64!", "AAAA"})
    void a_damaged_state_is_refused_not_guessed(String saved) {
        assertTrue(Sha256State.restore(saved).isEmpty());
    }
}
