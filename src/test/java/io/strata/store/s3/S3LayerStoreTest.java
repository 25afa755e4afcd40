package io.strata.store.s3;

import io.strata.db.Database;
import io.strata.layer.LayerStore;
import io.strata.layer.LayerStoreContract;
import io.strata.testing.S3TestBucket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

/** The {@link LayerStore} contract on an S3-compatible bucket (S3Proxy in CI), each test under its own prefix. */
class S3LayerStoreTest extends LayerStoreContract {
    static S3TestBucket bucket;
    @TempDir Path dir;
    private S3LayerStore store;
    private String prefix;

    @BeforeAll
    static void makeBucket() { bucket = S3TestBucket.create(); }

    @AfterAll
    static void removeBucket() {
        if (bucket != null) bucket.close();
    }

    @BeforeEach
    void open() throws IOException {
        prefix = "t-" + UUID.randomUUID().toString().substring(0, 8) + "/";
        Database database = Database.open(dir.resolve("strata.db"));
        store = S3LayerStore.open(bucket.store(prefix), dir, database.jdbi());
        store.check();
        Files.createDirectories(dir.resolve("scratch"));
    }

    @Override protected LayerStore store() { return store; }

    @Override protected Path scratch() { return dir.resolve("scratch"); }

    @Override
    protected List<String> leftovers() throws IOException {
        List<String> all = new ArrayList<>(bucket.keys(prefix));
        bucket.multipartUploads(prefix).forEach(key -> all.add("multipart " + key));
        try (Stream<Path> files = Files.walk(dir.resolve("uploads"))) {
            files.filter(Files::isRegularFile).forEach(file -> all.add(file.toString()));
        }
        return all;
    }
}
