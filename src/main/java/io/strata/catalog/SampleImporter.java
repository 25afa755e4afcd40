package io.strata.catalog;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;
import io.strata.upload.UploadService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code serve --import DIR}: stores {@code DIR/layers/*.qcow2} and publishes {@code DIR/images.json}
 * through the same checks as the HTTP API. Idempotent: stored layers and published versions are
 * skipped, so it can run on every start.
 */
public final class SampleImporter {
    private static final Logger LOG = LoggerFactory.getLogger(SampleImporter.class);

    private final UploadService uploads;
    private final CatalogService catalog;

    public SampleImporter(UploadService uploads, CatalogService catalog) {
        this.uploads = uploads;
        this.catalog = catalog;
    }

    public record Result(int layersStored, int imagesPublished) {}

    public Result importFrom(Path dir) throws IOException {
        Path layersDir = dir.resolve("layers");
        Path imagesFile = dir.resolve("images.json");
        if (!Files.isDirectory(layersDir) || !Files.isRegularFile(imagesFile)) {
            throw new IOException("--import " + dir + ": expected " + layersDir + "/ with <sha256>.qcow2 files and " + imagesFile);
        }
        List<Path> pending = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(layersDir, "*.qcow2")) {
            files.forEach(pending::add);
        }
        // Parents must be stored before children; the files do not say their order, so retry until no progress.
        int stored = 0;
        boolean progress = true;
        while (!pending.isEmpty() && progress) {
            progress = false;
            for (var it = pending.iterator(); it.hasNext(); ) {
                Path file = it.next();
                String name = file.getFileName().toString();
                String hex = name.substring(0, name.length() - ".qcow2".length());
                if (!Digest.isValid(hex)) throw new IOException(file + ": layer files must be named <sha256>.qcow2");
                try (InputStream in = Files.newInputStream(file)) {
                    if (uploads.putLayer(new Digest(hex), in, Files.size(file)).created()) stored++;
                    it.remove();
                    progress = true;
                } catch (ApiException e) {
                    if (e.code() != ErrorCode.PARENT_UNKNOWN) throw new IOException(file + ": " + e.getMessage(), e);
                }
            }
        }
        if (!pending.isEmpty()) throw new IOException("cannot import " + pending + ": their parent layers are not in " + layersDir);

        ObjectMapper json = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        List<PublishRequest> images = json.readValue(imagesFile.toFile(), new TypeReference<>() {});
        int published = 0;
        for (PublishRequest image : images) {
            try {
                catalog.publish(image);
                published++;
            } catch (ApiException e) {
                if (e.code() != ErrorCode.CONFLICT) throw new IOException(imagesFile + ": " + e.getMessage(), e);
            }
        }
        LOG.info("imported {}: {} new layer(s), {} new image(s)", dir, stored, published);
        return new Result(stored, published);
    }
}
