package io.strata.tls;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The blocks of a PEM text (RFC 7468), in file order; text outside the blocks is ignored. The one
 * reader of PEM files: TLS certificates and keys here, the index signing key in {@code signing}.
 */
public final class Pem {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \\1-----", Pattern.DOTALL);

    /**
     * One block. {@code headers} is true for the legacy OpenSSL form with {@code Proc-Type}/{@code DEK-Info}
     * lines, which only encrypted traditional keys use.
     */
    public record Block(String label, byte[] der, boolean headers) {}

    private Pem() {}

    /** Every block; a body that is not base64, or a block cut short, is an IllegalArgumentException. */
    public static List<Block> parse(String text) {
        List<Block> blocks = new ArrayList<>();
        Matcher matcher = BLOCK.matcher(text);
        while (matcher.find()) {
            StringBuilder base64 = new StringBuilder();
            boolean headers = false;
            for (String line : matcher.group(2).split("\\R")) {
                String trimmed = line.strip();
                if (trimmed.contains(":")) {
                    headers = true;
                } else {
                    base64.append(trimmed);
                }
            }
            blocks.add(new Block(matcher.group(1), Base64.getDecoder().decode(base64.toString()), headers));
        }
        // A BEGIN line without its END: most likely a file read while it was being written.
        if (text.split("-----BEGIN ", -1).length - 1 > blocks.size()) {
            throw new IllegalArgumentException("a PEM block is cut short ('-----BEGIN' without its '-----END' line)");
        }
        return blocks;
    }
}
