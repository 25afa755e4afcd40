package io.strata.lxd;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A POSIX ustar archive of regular files with fixed owner (0/0, root), mode and mtime, written
 * here rather than with a tar library: the format is a 512-byte header per file (IEEE 1003.1-1988),
 * and owning every byte is what makes the archive identical on every run, JVM and library update.
 */
final class Ustar {
    private static final int BLOCK = 512;
    /** GNU tar's default record (blocking factor 20); some readers expect the archive padded to it. */
    private static final int RECORD = 20 * BLOCK;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final long mtime;

    /** @param mtime every entry's modification time, in seconds since the epoch */
    Ustar(long mtime) { this.mtime = mtime; }

    Ustar file(String name, byte[] content) {
        byte[] header = new byte[BLOCK];
        byte[] nameBytes = name.getBytes(StandardCharsets.US_ASCII);
        if (nameBytes.length > 100) throw new IllegalArgumentException("tar name longer than 100 bytes: " + name);
        System.arraycopy(nameBytes, 0, header, 0, nameBytes.length);
        octal(header, 100, 8, 0644);          // mode
        octal(header, 108, 8, 0);             // uid
        octal(header, 116, 8, 0);             // gid
        octal(header, 124, 12, content.length);
        octal(header, 136, 12, mtime);
        header[156] = '0';                    // regular file
        ascii(header, 257, "ustar\0");        // magic
        ascii(header, 263, "00");             // version
        ascii(header, 265, "root");           // uname
        ascii(header, 297, "root");           // gname
        octal(header, 329, 8, 0);             // devmajor
        octal(header, 337, 8, 0);             // devminor
        // The checksum is the byte sum of the header with its own field read as spaces.
        for (int i = 148; i < 156; i++) header[i] = ' ';
        long sum = 0;
        for (byte b : header) sum += b & 0xff;
        String checksum = String.format("%06o", sum);
        ascii(header, 148, checksum);
        header[154] = 0;
        header[155] = ' ';
        out.writeBytes(header);
        out.writeBytes(content);
        int pad = (BLOCK - content.length % BLOCK) % BLOCK;
        out.writeBytes(new byte[pad]);
        return this;
    }

    /** The archive: entries, two zero blocks, padded to a whole record. */
    byte[] finish() {
        out.writeBytes(new byte[2 * BLOCK]);
        int pad = (RECORD - out.size() % RECORD) % RECORD;
        out.writeBytes(new byte[pad]);
        return out.toByteArray();
    }

    /** {@code length-1} octal digits, zero-padded, then NUL. */
    private static void octal(byte[] header, int offset, int length, long value) {
        String digits = Long.toOctalString(value);
        if (digits.length() > length - 1) throw new IllegalArgumentException("value too large for a tar field: " + value);
        ascii(header, offset, "0".repeat(length - 1 - digits.length()) + digits);
        header[offset + length - 1] = 0;
    }

    private static void ascii(byte[] header, int offset, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(bytes, 0, header, offset, bytes.length);
    }
}
