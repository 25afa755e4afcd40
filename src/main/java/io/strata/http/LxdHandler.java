package io.strata.http;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;
import io.strata.layer.LayerStore;
import io.strata.lxd.LxdItems;
import io.strata.lxd.LxdService;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.Map;

/**
 * {@code GET} and {@code HEAD /lxd/<sha256>.tar.xz} (metadata tarball) and {@code /lxd/<sha256>.qcow2}
 * (flattened disk): the files images.json lists for LXD and Incus. LXD downloads them whole (200);
 * ranges work as for layers, for qemu and resuming downloaders.
 */
final class LxdHandler implements FastReads.Read {
    private final LxdService lxd;
    private final LayerStore store;

    LxdHandler(LxdService lxd, LayerStore store) {
        this.lxd = lxd;
        this.store = store;
    }

    @Override
    public void handle(Request request, Response response, Callback callback, String file, boolean head) throws IOException {
        Digest digest = parse(file);
        LxdItems items = lxd.servable(digest).filter(i -> file.endsWith(i.meta().equals(digest) ? LxdItems.META_SUFFIX : LxdItems.DISK_SUFFIX))
                .orElseThrow(() -> new ApiException(ErrorCode.LXD_ITEM_UNKNOWN, "no LXD item " + file + " is served here",
                        Map.of("path", "lxd/" + file)));
        LayerStore.LayerContent content;
        try {
            content = store.open(digest);
        } catch (NoSuchFileException e) {
            throw new ApiException(ErrorCode.LXD_ITEM_UNKNOWN, "LXD item " + file + " is recorded but its file is missing; run 'strata verify'");
        }
        LayerHandler.serve(request, response, callback, head, digest, content, items.readyAt());
    }

    private static Digest parse(String file) {
        for (String suffix : new String[] {LxdItems.META_SUFFIX, LxdItems.DISK_SUFFIX}) {
            if (file != null && file.endsWith(suffix)) {
                String hex = file.substring(0, file.length() - suffix.length());
                if (Digest.isValid(hex)) return new Digest(hex);
            }
        }
        throw new ApiException(ErrorCode.LXD_ITEM_UNKNOWN, "LXD item URLs look like /lxd/<64 lowercase hex>.tar.xz or .qcow2");
    }
}
