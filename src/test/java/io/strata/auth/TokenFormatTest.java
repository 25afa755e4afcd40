package io.strata.auth;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The text of a token: recognisable prefix, 256 random bits, a checksum that catches typos. */
class TokenFormatTest {
    private static final Pattern SHAPE = Pattern.compile("strata_pat_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}");

    @Test
    void a_new_token_is_strata_pat_random_and_checksum_and_never_repeats() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            String token = TokenFormat.generate();
            assertEquals(true, SHAPE.matcher(token).matches(), token);
            assertEquals(TokenFormat.LENGTH, token.length());
            assertEquals(TokenFormat.Shape.CURRENT, TokenFormat.shape(token));
            seen.add(token);
        }
        assertEquals(1000, seen.size());
    }

    @Test
    void any_single_character_typo_fails_the_checksum() {
        String token = TokenFormat.generate();
        String alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (int i = TokenFormat.PREFIX.length(); i < token.length(); i++) {
            if (token.charAt(i) == '_') continue;
            char other = alphabet.charAt((alphabet.indexOf(token.charAt(i)) + 1 + i) % alphabet.length());
            String typo = token.substring(0, i) + other + token.substring(i + 1);
            assertEquals(TokenFormat.Shape.MALFORMED, TokenFormat.shape(typo), typo);
        }
        assertEquals(TokenFormat.Shape.MALFORMED, TokenFormat.shape(token.substring(0, token.length() - 1)));
        assertEquals(TokenFormat.Shape.MALFORMED, TokenFormat.shape(token + "x"));
        assertEquals(TokenFormat.Shape.MALFORMED, TokenFormat.shape("garbage"));
        assertEquals(TokenFormat.Shape.MALFORMED, TokenFormat.shape(null));
    }

    @Test
    void a_token_made_before_the_format_changed_is_recognised_as_legacy() {
        assertEquals(TokenFormat.Shape.LEGACY, TokenFormat.shape("strata_" + "Wy2Md".repeat(8) + "-_3"));
    }
}
