package io.strata.auth;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.zip.CRC32;

/**
 * The text of a token: {@code strata_pat_<random>_<checksum>}. The random part is 43 base62
 * characters (256 bits); the checksum is the CRC32 of the random part in 6 base62 characters. The
 * fixed prefix lets secret scanners recognise a leaked token, and the checksum lets the server
 * refuse a mistyped or truncated one without touching the database (the scheme of GitHub's
 * {@code ghp_} tokens). Tokens made before this format ({@code strata_} + 43 base64url
 * characters) are still accepted: they have no checksum and are looked up as before.
 */
public final class TokenFormat {
    public static final String PREFIX = "strata_pat_";
    /** The start of every token, current or legacy (what a log must never show past). */
    public static final String LEGACY_PREFIX = "strata_";
    static final int RANDOM_CHARS = 43;
    static final int CHECKSUM_CHARS = 6;
    /** {@code strata_pat_} + random + {@code _} + checksum. */
    public static final int LENGTH = PREFIX.length() + RANDOM_CHARS + 1 + CHECKSUM_CHARS;
    private static final String BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private static final SecureRandom RANDOM = new SecureRandom();

    private TokenFormat() {}

    /** What a presented text is, before any lookup. */
    public enum Shape { CURRENT, LEGACY, MALFORMED }

    public static String generate() {
        StringBuilder random = new StringBuilder(RANDOM_CHARS);
        for (int i = 0; i < RANDOM_CHARS; i++) random.append(BASE62.charAt(RANDOM.nextInt(BASE62.length())));
        return PREFIX + random + "_" + checksum(random.toString());
    }

    public static Shape shape(String text) {
        if (text == null) return Shape.MALFORMED;
        if (text.startsWith(PREFIX)) {
            if (text.length() != LENGTH || text.charAt(LENGTH - CHECKSUM_CHARS - 1) != '_') return Shape.MALFORMED;
            String random = text.substring(PREFIX.length(), PREFIX.length() + RANDOM_CHARS);
            if (!isBase62(random)) return Shape.MALFORMED;
            return checksum(random).equals(text.substring(LENGTH - CHECKSUM_CHARS)) ? Shape.CURRENT : Shape.MALFORMED;
        }
        // The old format: strata_ + base64url of 32 bytes.
        if (text.startsWith(LEGACY_PREFIX) && text.length() == LEGACY_PREFIX.length() + 43
                && text.substring(LEGACY_PREFIX.length()).chars().allMatch(c -> BASE62.indexOf(c) >= 0 || c == '-' || c == '_')) {
            return Shape.LEGACY;
        }
        return Shape.MALFORMED;
    }

    static String checksum(String random) {
        CRC32 crc = new CRC32();
        crc.update(random.getBytes(StandardCharsets.US_ASCII));
        long value = crc.getValue();
        char[] out = new char[CHECKSUM_CHARS];
        for (int i = CHECKSUM_CHARS - 1; i >= 0; i--) {
            out[i] = BASE62.charAt((int) (value % 62));
            value /= 62;
        }
        return new String(out);
    }

    private static boolean isBase62(String text) { return text.chars().allMatch(c -> BASE62.indexOf(c) >= 0); }
}
