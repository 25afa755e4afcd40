package io.strata.layer.qcow2;

import static io.strata.layer.qcow2.HeaderFields.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The layout of a qcow2 file's first cluster, read leniently: unlike {@link Qcow2Inspector} it
 * accepts any backing name (a publisher's local path), because its job is to read that name and
 * to write the first cluster again with the canonical one ({@link #rebased}). The header
 * extension area is read by the inspector's own walker ({@link HeaderExtensions}), so push keeps
 * exactly the extensions the registry will judge, and refuses an area the registry would refuse.
 *
 * <p>{@link #rebased} does to the first cluster what {@code qemu-img rebase -u -F FORMAT -b NAME}
 * does to the file, and nothing else: qemu rewrites the header cluster as header fields, the
 * header extensions (backing format first, the others in their order), an end-of-extensions
 * marker, the backing name right after it, and zeros to the end of the cluster. No other cluster
 * changes, so {@code strata push} can stream "new first cluster + the rest of the file" without
 * touching the publisher's file. For files qemu made, the result is byte-identical to qemu's.
 *
 * @param clusterSize   bytes in the first cluster (1 &lt;&lt; cluster_bits)
 * @param headerLength  72 for version 2, the header_length field for version 3
 * @param backingName   the raw backing file name, empty when there is none
 * @param backingFormat the backing format extension, if present
 * @param extensions    every header extension other than the backing format, in file order
 */
public record Qcow2Header(int version, int clusterSize, long headerLength, Optional<String> backingName,
                          Optional<String> backingFormat, List<Extension> extensions) {

    /** A header extension kept as opaque bytes ({@code data} without its padding). */
    public record Extension(int type, byte[] data) {}


    public Qcow2Header {
        extensions = List.copyOf(extensions);
    }

    /** Reads the first cluster of {@code file}; fails with a publisher-facing message when it is not a usable qcow2 header. */
    public static Qcow2Header read(Path file) throws IOException, Qcow2Exception {
        return parse(firstCluster(file));
    }

    /** The first cluster of {@code file} (at most {@link Qcow2Inspector#MAX_HEADER_BYTES}), as stored. */
    public static ByteBuffer firstCluster(Path file) throws IOException, Qcow2Exception {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer start = ByteBuffer.allocate((int) Math.min(channel.size(), CLUSTER_BITS_OFFSET + 4));
            readFully(channel, start, 0);
            start.flip();
            checkMagicAndVersion(start, file.toString());
            if (start.limit() < CLUSTER_BITS_OFFSET + 4) throw new Qcow2Exception(Check.TRUNCATED, file + " ends inside its header");
            int clusterBits = start.getInt(CLUSTER_BITS_OFFSET);
            if (clusterBits < 9 || clusterBits > 21) {
                throw new Qcow2Exception(Check.CLUSTER_BITS, file + ": cluster_bits " + clusterBits + " is outside 9..21");
            }
            int clusterSize = 1 << clusterBits;
            if (channel.size() < clusterSize) {
                throw new Qcow2Exception(Check.TRUNCATED, file + " ends after " + channel.size()
                        + " bytes, inside its first cluster (" + clusterSize + " bytes)");
            }
            ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
            readFully(channel, cluster, 0);
            return cluster.flip();
        }
    }

    /** Parses a whole first cluster (position to limit). */
    public static Qcow2Header parse(ByteBuffer cluster) throws Qcow2Exception {
        ByteBuffer bytes = cluster.slice();
        if (bytes.remaining() < VERSION_2_HEADER_LENGTH) {
            throw new Qcow2Exception(Check.TRUNCATED, "the first cluster is only " + bytes.remaining() + " bytes");
        }
        checkMagicAndVersion(bytes, "the file");
        int version = bytes.getInt(VERSION_OFFSET);
        int clusterSize = 1 << bytes.getInt(CLUSTER_BITS_OFFSET);
        if (bytes.remaining() != clusterSize) {
            throw new IllegalArgumentException("pass exactly the first cluster: " + clusterSize + " bytes, got " + bytes.remaining());
        }
        long headerLength = version == 2 ? VERSION_2_HEADER_LENGTH : Integer.toUnsignedLong(bytes.getInt(HEADER_LENGTH_OFFSET));
        if (headerLength < VERSION_2_HEADER_LENGTH || headerLength % 8 != 0 || headerLength > clusterSize) {
            throw new Qcow2Exception(Check.HEADER_LENGTH, "header_length " + headerLength + " is invalid");
        }
        long backingOffset = bytes.getLong(BACKING_FILE_OFFSET_OFFSET);
        long backingSize = Integer.toUnsignedLong(bytes.getInt(BACKING_FILE_SIZE_OFFSET));
        if (backingOffset != 0 && (backingSize > MAX_BACKING_NAME_LENGTH || backingOffset < headerLength
                || backingOffset > clusterSize || backingSize > clusterSize - backingOffset)) {
            throw new Qcow2Exception(Check.BACKING_OFFSET, "the backing file name (offset " + Long.toUnsignedString(backingOffset)
                    + ", " + backingSize + " bytes) is not inside the first cluster");
        }
        long end = backingOffset != 0 ? backingOffset : clusterSize;
        List<Extension> extensions = new ArrayList<>();
        Optional<String> backingFormat = Optional.empty();
        for (HeaderExtensions.Found found : HeaderExtensions.walk(bytes, headerLength, end)) {
            if (found.type() == EXTENSION_BACKING_FORMAT) {
                backingFormat = Optional.of(new String(found.data(), StandardCharsets.ISO_8859_1));
            } else {
                extensions.add(new Extension(found.type(), found.data()));
            }
        }
        Optional<String> backingName = Optional.empty();
        if (backingOffset != 0 && backingSize > 0) {
            byte[] name = new byte[(int) backingSize];
            bytes.get((int) backingOffset, name);
            backingName = Optional.of(new String(name, StandardCharsets.UTF_8));
        }
        return new Qcow2Header(version, clusterSize, headerLength, backingName, backingFormat, extensions);
    }

    /**
     * The first cluster with {@code name} as backing file and {@code format} as backing format,
     * laid out as qemu lays it out; {@code original} is the cluster this header was parsed from
     * (its header fields up to header_length are kept).
     */
    public byte[] rebased(ByteBuffer original, String name, String format) throws Qcow2Exception {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        byte[] formatBytes = format.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[clusterSize];
        ByteBuffer cluster = ByteBuffer.wrap(out);
        ByteBuffer source = original.slice();
        source.get(0, out, 0, (int) headerLength);
        cluster.position((int) headerLength);
        try {
            putExtension(cluster, EXTENSION_BACKING_FORMAT, formatBytes);
            for (Extension extension : extensions) putExtension(cluster, extension.type(), extension.data());
            cluster.putInt(EXTENSION_END).putInt(0);
            int nameOffset = cluster.position();
            cluster.put(nameBytes);
            cluster.putLong(BACKING_FILE_OFFSET_OFFSET, nameOffset);
            cluster.putInt(BACKING_FILE_SIZE_OFFSET, nameBytes.length);
        } catch (java.nio.BufferOverflowException e) {
            throw new Qcow2Exception(Check.BACKING_OFFSET, "the header extensions and the backing name '" + name
                    + "' do not fit in the first cluster (" + clusterSize + " bytes)");
        }
        return out;
    }

    private static void putExtension(ByteBuffer cluster, int type, byte[] data) {
        cluster.putInt(type).putInt(data.length).put(data);
        int padding = (int) (((data.length + 7L) & ~7L) - data.length);
        cluster.put(new byte[padding]);
    }

    private static void checkMagicAndVersion(ByteBuffer bytes, String what) throws Qcow2Exception {
        for (int index = 0; index < MAGIC.length; index++) {
            if (index >= bytes.limit() || bytes.get(index) != MAGIC[index]) {
                throw new Qcow2Exception(Check.MAGIC, what + " is not a qcow2 image (no 'QFI\\xfb' magic); convert it with"
                        + " 'qemu-img convert -O qcow2 disk.img disk.qcow2'");
            }
        }
        if (bytes.limit() < VERSION_OFFSET + 4) throw new Qcow2Exception(Check.TRUNCATED, what + " ends inside its header");
        int version = bytes.getInt(VERSION_OFFSET);
        if (version != 2 && version != 3) {
            throw new Qcow2Exception(Check.VERSION, what + " is qcow2 version " + Integer.toUnsignedString(version)
                    + "; only versions 2 and 3 exist");
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) break;
        }
    }
}
