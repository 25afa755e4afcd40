package io.strata.migrate;

import io.strata.db.Database;
import io.strata.layer.Digest;
import io.strata.layer.LayerDao;
import io.strata.layer.LayerRecord;
import io.strata.layer.LayerStore;
import org.jdbi.v3.core.Handle;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;

/**
 * Moves an embedded registry (SQLite + data directory) to PostgreSQL and a shared store: every
 * layer copied once through the target {@link LayerStore}, its sha256 checked on the way, then
 * every metadata row upserted. Interrupted, it resumes: a layer already in the target store was
 * verified when it was committed there (a store only ever holds verified files), so it is
 * skipped; rows are upserts. Run twice, the second run changes nothing.
 *
 * <p>Tables are listed in {@link #TABLES} (copied) or {@link #NOT_COPIED} (with the reason); a
 * source table in neither stops the migration, so a table added by a new migration is never
 * silently left behind. Adding one is one line here.
 */
public final class Migration {
    /** A metadata table to copy: its name, primary key columns, and columns the target keeps as they are. */
    public record Table(String name, List<String> key, Set<String> targetOwned) {
        public Table(String name, String... key) { this(name, List.of(key), Set.of()); }
    }

    /** Copied in this order, after every layer file is in the target store. */
    public static final List<Table> TABLES = List.of(
            new Table("layers", "digest"),
            new Table("tokens", "id"),
            new Table("images", "fingerprint"),
            new Table("aliases", "name"),
            new Table("alias_history", "id"),
            new Table("audit_log", "id"),
            // LXD items name blobs in the layer store (copied with the layers); their jobs come along, done ones stay done.
            new Table("lxd_items", "fingerprint"),
            new Table("jobs", "id"),
            // The key that signs the index: a moved registry keeps signing with the key its clients pinned.
            new Table("signing_key", "id"),
            // The generation is the target's own change counter (replicas poll it); bumped below when rows changed.
            new Table("catalog_meta", List.of("id"), Set.of("generation")));

    /** Tables deliberately left behind, and why. */
    public static final Map<String, String> NOT_COPIED = Map.of(
            "uploads", "resumable upload sessions in progress: their bytes are in the old upload area; clients start new sessions",
            "flyway_schema_history", "the target database records its own migrations",
            "layer_pins", "parents of uploads in flight on running replicas; the source has no replicas",
            "store_objects", "an object store's digest-to-key map: the target store writes its own as layers are copied in");

    private static final int CHUNK_BYTES = 4 << 20;
    private static final int BATCH_ROWS = 1000;

    /** Told about progress; may throw to stop (tests use that to interrupt a run). */
    public interface Listener {
        default void starting(long layers, long bytes) { }
        default void bytesCopied(long bytes) { }
        default void layerDone(Digest digest, long size, boolean copied) { }
    }

    /** What a run did. {@code rowsChanged} counts rows inserted or updated, per table. */
    public record Report(int layers, int layersCopied, long bytesCopied, Map<String, Integer> rows, Map<String, Integer> rowsChanged) {
        public int totalChanged() { return rowsChanged.values().stream().mapToInt(Integer::intValue).sum(); }
    }

    private final Database source;
    private final LayerStore sourceStore;
    private final Database target;
    private final LayerStore targetStore;
    private final Listener listener;

    public Migration(Database source, LayerStore sourceStore, Database target, LayerStore targetStore, Listener listener) {
        if (target.dialect() != Database.Dialect.POSTGRESQL) throw new IllegalArgumentException("the target of a migration is a PostgreSQL database");
        this.source = source;
        this.sourceStore = sourceStore;
        this.target = target;
        this.targetStore = targetStore;
        this.listener = listener;
    }

    public Report run() throws IOException {
        checkTablesKnown();
        List<Blob> layers = blobs();
        long total = layers.stream().mapToLong(Blob::size).sum();
        listener.starting(layers.size(), total);
        int copied = 0;
        long bytes = 0;
        for (Blob layer : layers) {
            boolean copy = !targetStore.exists(layer.digest());
            if (copy) {
                copyLayer(layer);
                copied++;
                bytes += layer.size();
            }
            listener.layerDone(layer.digest(), layer.size(), copy);
        }
        Map<String, Integer> rows = new LinkedHashMap<>();
        Map<String, Integer> changed = new LinkedHashMap<>();
        try (Handle fromHandle = source.jdbi().open(); Handle toHandle = target.jdbi().open()) {
            Connection from = fromHandle.getConnection();
            Connection to = toHandle.getConnection();
            // One transaction: replicas already running on the target see all of the catalog at once, or none of it.
            toHandle.begin();
            for (Table table : TABLES) {
                int[] counts = copyRows(from, to, table);
                rows.put(table.name(), counts[0]);
                changed.put(table.name(), counts[1]);
            }
            if (changed.values().stream().anyMatch(n -> n > 0)) {
                try (Statement statement = to.createStatement()) {
                    // Running replicas reload their catalog when the generation moves.
                    statement.executeUpdate("UPDATE catalog_meta SET generation = generation + 1 WHERE id = 1");
                }
            }
            toHandle.commit();
        } catch (SQLException e) {
            throw new IOException("copying the metadata failed: " + e.getMessage(), e);
        }
        return new Report(layers.size(), copied, bytes, rows, changed);
    }

    /** One file of the layer store: a layer, or a blob made for LXD (io.strata.lxd). */
    record Blob(Digest digest, long size) {}

    /** Every file the source's rows name, each once. */
    private List<Blob> blobs() {
        Map<Digest, Blob> out = new LinkedHashMap<>();
        for (LayerRecord layer : source.dao(LayerDao.class).all()) out.put(layer.digest(), new Blob(layer.digest(), layer.size()));
        source.jdbi().useHandle(handle -> handle.createQuery("SELECT meta_sha256, meta_size, disk_sha256, disk_size FROM lxd_items")
                .map((rs, ctx) -> {
                    if (rs.getString("meta_sha256") != null) out.putIfAbsent(new Digest(rs.getString("meta_sha256")),
                            new Blob(new Digest(rs.getString("meta_sha256")), rs.getLong("meta_size")));
                    if (rs.getString("disk_sha256") != null) out.putIfAbsent(new Digest(rs.getString("disk_sha256")),
                            new Blob(new Digest(rs.getString("disk_sha256")), rs.getLong("disk_size")));
                    return 0;
                }).list());
        return List.copyOf(out.values());
    }

    private void copyLayer(Blob layer) throws IOException {
        LayerStore.LayerContent content;
        try {
            content = sourceStore.open(layer.digest());
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException("layer " + layer.digest().hex() + " is recorded but its file is missing from the source; "
                    + "run 'strata verify' on the source and start its server once (recovery drops such rows), then migrate again");
        }
        if (content.size() != layer.size()) {
            throw new IOException("layer " + layer.digest().hex() + " has " + content.size() + " bytes in the source but its row says "
                    + layer.size() + "; run 'strata verify' on the source");
        }
        // Through the target store's own upload path (a multipart upload on S3), hashed on the way.
        LayerStore.Upload upload = targetStore.create(UUID.randomUUID().toString().replace("-", ""));
        boolean completed = false;
        try (InputStream in = content.stream(0, layer.size())) {
            MessageDigest digest = Digest.sha256();
            byte[] buffer = new byte[CHUNK_BYTES];
            long copied = 0;
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
                upload.write(buffer, 0, n);
                copied += n;
                listener.bytesCopied(n);
            }
            Digest actual = Digest.of(digest.digest());
            if (copied != layer.size() || !actual.equals(layer.digest())) {
                throw new IOException("layer " + layer.digest().hex() + " in the source hashes to " + actual.hex()
                        + "; its file is damaged: run 'strata verify' on the source");
            }
            upload.complete(layer.digest());
            completed = true;
        } finally {
            if (!completed) upload.abort();
            upload.close();
        }
    }

    /** Upserts every row of {@code table}; returns {rows, rows inserted or changed}. */
    private static int[] copyRows(Connection from, Connection to, Table table) throws SQLException {
        int rows = 0;
        int changed = 0;
        try (Statement select = from.createStatement(); ResultSet result = select.executeQuery("SELECT * FROM " + table.name())) {
            ResultSetMetaData meta = result.getMetaData();
            List<String> columns = new ArrayList<>();
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                String column = meta.getColumnName(i).toLowerCase(java.util.Locale.ROOT);
                if (!table.targetOwned().contains(column)) columns.add(column);
            }
            try (PreparedStatement upsert = to.prepareStatement(upsertSql(table, columns))) {
                int batched = 0;
                while (result.next()) {
                    for (int i = 0; i < columns.size(); i++) upsert.setObject(i + 1, result.getObject(columns.get(i)));
                    upsert.addBatch();
                    rows++;
                    if (++batched == BATCH_ROWS) {
                        changed += sum(upsert.executeBatch());
                        batched = 0;
                    }
                }
                if (batched > 0) changed += sum(upsert.executeBatch());
            }
        }
        resetIdentity(to, table);
        return new int[] {rows, changed};
    }

    /** INSERT ... ON CONFLICT DO UPDATE only when a value differs, so the update count says what really changed. */
    static String upsertSql(Table table, List<String> columns) {
        List<String> values = columns.stream().filter(c -> !table.key().contains(c)).toList();
        String sql = "INSERT INTO " + table.name() + " AS t (" + String.join(", ", columns) + ") VALUES ("
                + String.join(", ", columns.stream().map(c -> "?").toList()) + ") ON CONFLICT (" + String.join(", ", table.key()) + ") ";
        if (values.isEmpty()) return sql + "DO NOTHING";
        return sql + "DO UPDATE SET " + String.join(", ", values.stream().map(c -> c + " = excluded." + c).toList())
                + " WHERE (" + String.join(", ", values.stream().map(c -> "t." + c).toList()) + ") IS DISTINCT FROM ("
                + String.join(", ", values.stream().map(c -> "excluded." + c).toList()) + ")";
    }

    /** Ids were copied explicitly: move the identity sequence past them, or the next insert would collide. */
    private static void resetIdentity(Connection to, Table table) throws SQLException {
        try (PreparedStatement identity = to.prepareStatement("SELECT column_name FROM information_schema.columns "
                + "WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'")) {
            identity.setString(1, table.name());
            try (ResultSet columns = identity.executeQuery()) {
                while (columns.next()) {
                    String column = columns.getString(1);
                    try (Statement statement = to.createStatement()) {
                        statement.execute("SELECT setval(pg_get_serial_sequence('" + table.name() + "', '" + column + "'), "
                                + "COALESCE((SELECT max(" + column + ") FROM " + table.name() + "), 0) + 1, false)");
                    }
                }
            }
        }
    }

    private void checkTablesKnown() throws IOException {
        List<String> names = source.jdbi().withHandle(h -> h.createQuery(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").mapTo(String.class).list());
        Set<String> tables = new TreeSet<>(names);
        for (Table table : TABLES) tables.remove(table.name());
        tables.removeAll(NOT_COPIED.keySet());
        if (!tables.isEmpty()) {
            throw new IOException("the source has table(s) " + tables + " that migrate does not know how to copy; "
                    + "this is a bug: add them to io.strata.migrate.Migration.TABLES (or NOT_COPIED)");
        }
    }

    private static int sum(int[] counts) {
        int total = 0;
        for (int count : counts) total += Math.max(0, count);
        return total;
    }
}
