package io.strata.client.push;

import io.strata.client.ClientException;
import io.strata.client.Progress;
import io.strata.client.push.LocalChain.LocalLayer;
import io.strata.layer.Digest;
import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Optional;

/**
 * A local layer as the registry will store it: its first cluster rewritten to name the parent by
 * its layer id ({@code <parent-sha256>.qcow2}, backing format qcow2), the rest of the file as it
 * is (DESIGN §1). Its id is the sha256 of that stream, so it covers the parent's id and thereby
 * the whole chain below. The publisher's file is never written.
 *
 * @param firstCluster the canonical first cluster (the original one when nothing needed to change)
 */
public record CanonicalLayer(LocalLayer local, byte[] firstCluster, Digest digest, Optional<Digest> parent) {
    private static final String BACKING_FORMAT = "qcow2";
    private static final int READ_CHUNK = 1 << 20;

    public long size() { return local.size(); }

    /** Whether the first cluster differs from the file's. */
    public boolean rewritten() {
        ByteBuffer original = local.firstCluster();
        byte[] bytes = new byte[original.remaining()];
        original.get(bytes);
        return !Arrays.equals(bytes, firstCluster);
    }

    /**
     * Canonicalises {@code local} on top of {@code parent} (empty for a base) and hashes the result,
     * reporting read bytes to {@code progress}. The canonical header must pass the same inspector the
     * registry runs, so a layer the registry would refuse fails here, before any upload.
     */
    public static CanonicalLayer of(LocalLayer local, Optional<Digest> parent, Progress progress) throws IOException {
        byte[] cluster = firstCluster(local, parent);
        inspect(local, cluster);
        MessageDigest sha = Digest.sha256();
        try (InputStream in = open(local, cluster, 0, local.size())) {
            byte[] buffer = new byte[READ_CHUNK];
            int n;
            while ((n = in.read(buffer)) > 0) {
                sha.update(buffer, 0, n);
                progress.advance(n);
            }
        }
        return new CanonicalLayer(local, cluster, Digest.of(sha.digest()), parent);
    }

    /** The canonical bytes {@code from .. from+length-1}, read from the file except for the first cluster. */
    public InputStream open(long from, long length) throws IOException {
        return open(local, firstCluster, from, length);
    }

    private static byte[] firstCluster(LocalLayer local, Optional<Digest> parent) throws ClientException {
        ByteBuffer original = local.firstCluster();
        byte[] unchanged = new byte[original.remaining()];
        original.duplicate().get(unchanged);
        if (parent.isEmpty()) {
            if (local.header().backingName().isPresent()) throw new IllegalArgumentException("a layer with a backing file needs its parent");
            return unchanged;
        }
        String name = parent.get().fileName();
        if (local.header().backingName().equals(Optional.of(name)) && local.header().backingFormat().equals(Optional.of(BACKING_FORMAT))) {
            return unchanged; // already canonical: upload the file exactly as it is
        }
        try {
            return local.header().rebased(original, name, BACKING_FORMAT);
        } catch (Qcow2Exception e) {
            throw new ClientException(local.file() + ": " + e.getMessage(), e);
        }
    }

    private static void inspect(LocalLayer local, byte[] cluster) throws IOException {
        int length = (int) Math.min(local.size(), Qcow2Inspector.MAX_HEADER_BYTES);
        byte[] head = new byte[length];
        try (InputStream in = open(local, cluster, 0, length)) {
            int read = in.readNBytes(head, 0, length);
            if (read != length) throw new ClientException(local.file() + " shrank while being read");
        }
        try (FileChannel file = FileChannel.open(local.file(), StandardOpenOption.READ)) {
            Qcow2Info info = Qcow2Inspector.inspect(ByteBuffer.wrap(head), local.size() <= Qcow2Inspector.MAX_HEADER_BYTES, true);
            // The canonical stream: the new first cluster, then the file.
            Qcow2Inspector.inspectEnd(info, local.size(), (destination, position) -> position < cluster.length
                    ? Qcow2Inspector.source(ByteBuffer.wrap(cluster)).read(destination, position)
                    : file.read(destination, position));
        } catch (Qcow2Exception e) {
            throw new ClientException(local.file() + " cannot be a layer: " + e.getMessage(), e);
        }
    }

    private static InputStream open(LocalLayer local, byte[] cluster, long from, long length) throws IOException {
        if (from < 0 || length < 0 || from + length > local.size()) {
            throw new IllegalArgumentException("bytes " + from + "+" + length + " are outside the layer's " + local.size());
        }
        long end = from + length;
        InputStream head = new ByteArrayInputStream(cluster, (int) Math.min(from, cluster.length),
                (int) Math.max(0, Math.min(end, cluster.length) - Math.min(from, cluster.length)));
        long fileFrom = Math.max(from, cluster.length);
        if (fileFrom >= end) return head;
        FileChannel channel = FileChannel.open(local.file(), StandardOpenOption.READ);
        channel.position(fileFrom);
        InputStream rest = new BoundedInputStream(Channels.newInputStream(channel), end - fileFrom);
        return new SequenceInputStream(head, rest);
    }


    /** At most {@code remaining} bytes of a stream; a file that shrank underneath ends early and is caught by the digest. */
    private static final class BoundedInputStream extends InputStream {
        private final InputStream in;
        private long remaining;

        BoundedInputStream(InputStream in, long remaining) {
            this.in = in;
            this.remaining = remaining;
        }

        @Override public int read() throws IOException {
            if (remaining <= 0) return -1;
            int b = in.read();
            if (b >= 0) remaining--;
            return b;
        }

        @Override public int read(byte[] buffer, int offset, int length) throws IOException {
            if (remaining <= 0) return -1;
            int n = in.read(buffer, offset, (int) Math.min(length, remaining));
            if (n > 0) remaining -= n;
            return n;
        }

        @Override public void close() throws IOException { in.close(); }
    }
}
