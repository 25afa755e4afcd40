package io.strata.lxd;

import io.strata.layer.Digest;

import java.time.Instant;

/**
 * The files the LXD and Incus clients download for one image (DESIGN §9), both stored in the
 * layer store by their sha256.
 *
 * @param meta     {@code lxd.tar.xz} (also listed as {@code incus.tar.xz}): the metadata tarball
 * @param disk     {@code disk-kvm.img}: the whole chain flattened into one compressed qcow2
 * @param combined sha256(meta bytes ‖ disk bytes), the image's fingerprint in LXD
 * @param readyAt  when both were stored (their Last-Modified)
 */
public record LxdItems(Digest meta, long metaSize, Digest disk, long diskSize, Digest combined, Instant readyAt) {
    /** URL paths, relative to the registry root, as images.json lists them. */
    public String metaPath() { return metaPath(meta); }

    public String diskPath() { return diskPath(disk); }

    public static String metaPath(Digest digest) { return "lxd/" + digest.hex() + META_SUFFIX; }

    public static String diskPath(Digest digest) { return "lxd/" + digest.hex() + DISK_SUFFIX; }

    public static final String META_SUFFIX = ".tar.xz";
    public static final String DISK_SUFFIX = ".qcow2";
}
