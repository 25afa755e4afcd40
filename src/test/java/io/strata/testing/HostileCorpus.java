package io.strata.testing;

import io.strata.layer.qcow2.Check;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The committed corpus of hostile qcow2 files ({@code src/test/resources/qcow2-hostile/}, made by
 * its {@code make-corpus.sh}): one small qemu-img image per check of the inspector's table and
 * limit rules, with a few bytes patched, listed in {@code cases.tsv} with the check it must fail.
 * Committed rather than generated so that the HTTP tests and a reader see the same bytes, and a
 * change to qemu-img cannot quietly turn a hostile file into a valid one.
 */
public final class HostileCorpus {
    private static final String DIR = "/qcow2-hostile/";

    /**
     * One hostile file.
     *
     * @param allowEncryption whether the registry judging it accepts encryption (the encryption
     *                        header checks run only then; otherwise encryption itself is refused)
     */
    public record HostileFile(String name, byte[] bytes, Check expected, boolean allowEncryption, String description) {
        @Override public String toString() { return name + " (" + description + ")"; }
    }

    private HostileCorpus() {}

    /** Every file of {@code cases.tsv}, in its order. */
    public static List<HostileFile> files() {
        List<HostileFile> files = new ArrayList<>();
        String[] lines = new String(resource("cases.tsv"), StandardCharsets.UTF_8).split("\n");
        for (int index = 1; index < lines.length; index++) {
            if (lines[index].isBlank()) continue;
            String[] fields = lines[index].split("\t");
            Check check = Check.valueOf(fields[1].toUpperCase(java.util.Locale.ROOT));
            files.add(new HostileFile(fields[0], resource(fields[0]), check, fields[2].equals("allowed"), fields[3]));
        }
        return files;
    }

    private static byte[] resource(String name) {
        try (InputStream in = HostileCorpus.class.getResourceAsStream(DIR + name)) {
            if (in == null) throw new IllegalStateException("missing test resource " + DIR + name);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
