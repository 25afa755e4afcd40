package io.strata.client.push;

import io.strata.client.ClientException;
import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Header;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A publisher's local backing chain, followed from the top file the way qemu follows it: a
 * relative backing name is resolved against the directory of the file that names it (as given,
 * not through symlinks), an absolute one is used as it is. Files are only read.
 */
public final class LocalChain {
    /** qemu reads {@code proto:...} and {@code json:{...}} as protocol specifications, not file names. */
    private static final Pattern PROTOCOL = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*:.*", Pattern.DOTALL);
    private static final int MAX_DEPTH = 256;

    /** One file of the chain with its first cluster as stored. */
    public record LocalLayer(Path file, Qcow2Header header, ByteBuffer firstCluster, long size) {
        public ByteBuffer firstCluster() { return firstCluster.asReadOnlyBuffer(); }
    }

    private LocalChain() {}

    /** The chain of {@code top}, base first. */
    public static List<LocalLayer> follow(Path top) throws IOException {
        List<LocalLayer> chain = new ArrayList<>();
        Set<Path> seen = new HashSet<>();
        Path current = top;
        String namedBy = null;
        while (true) {
            if (!Files.isRegularFile(current)) {
                throw new ClientException(namedBy == null ? current + " does not exist or is not a file"
                        : namedBy + " names backing file " + current + ", which does not exist; fix the chain with"
                        + " 'qemu-img rebase -u -F qcow2 -b PARENT " + namedBy + "'");
            }
            Path real = current.toRealPath();
            if (!seen.add(real)) {
                throw new ClientException("the backing chain of " + top + " loops back to " + current + "; fix it with 'qemu-img rebase -u'");
            }
            if (chain.size() >= MAX_DEPTH) throw new ClientException("the backing chain of " + top + " is deeper than " + MAX_DEPTH + " layers");
            ByteBuffer cluster;
            Qcow2Header header;
            try {
                cluster = Qcow2Header.firstCluster(current);
                header = Qcow2Header.parse(cluster);
            } catch (Qcow2Exception e) {
                throw new ClientException(current + ": " + e.getMessage(), e);
            } catch (NoSuchFileException e) {
                throw new ClientException(current + " disappeared while being read", e);
            }
            chain.add(new LocalLayer(current, header, cluster, Files.size(current)));
            if (header.backingName().isEmpty()) break;
            String name = header.backingName().get();
            if (PROTOCOL.matcher(name).matches()) {
                throw new ClientException(current + " is backed by '" + name + "', a protocol or json: specification, not a"
                        + " local file; push a chain of local qcow2 files (copy the backing image locally with 'qemu-img convert')");
            }
            String format = header.backingFormat().orElse("qcow2");
            if (!format.equals("qcow2")) {
                throw new ClientException(current + " is backed by " + name + " in format " + format + "; every Strata layer is"
                        + " qcow2: convert the backing image with 'qemu-img convert -O qcow2' and rebase onto the copy");
            }
            Path named = Path.of(name);
            Path parentDir = current.getParent();
            namedBy = current.toString();
            current = named.isAbsolute() || parentDir == null ? named : parentDir.resolve(named);
        }
        Collections.reverse(chain);
        return List.copyOf(chain);
    }
}
