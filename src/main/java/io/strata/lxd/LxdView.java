package io.strata.lxd;

import io.strata.layer.Digest;

import java.util.Map;
import java.util.Optional;

/**
 * What the index documents and the catalog page show about LXD items, carried in the catalog
 * snapshot so that a change (items ready, a failure) makes a new catalog generation and the
 * documents are rendered again.
 *
 * @param enabled  whether this server makes LXD items (qemu-img found, {@code --lxd-versions} above 0)
 * @param message  for people: why it is off, or what it does
 * @param versions how many of each product's newest versions get items ({@code --lxd-versions})
 * @param images   image fingerprint → status, for the images that get LXD items
 */
public record LxdView(boolean enabled, String message, int versions, Map<Digest, LxdStatus> images) {
    public LxdView {
        images = Map.copyOf(images);
    }

    /** Before the server started its LXD service (offline commands). */
    public static final LxdView NONE = new LxdView(false, "LXD items are not made by this process", 0, Map.of());

    public Optional<LxdItems> ready(Digest image) {
        LxdStatus status = images.get(image);
        return status == null ? Optional.empty() : status.items();
    }
}
