package io.strata.db;

import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.sqlobject.SqlObjectPlugin;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The embedded SQLite database ({@code strata.db}, WAL) and its schema migrations.
 *
 * <p>Migrations are the files {@code db/V<n>.sql} on the classpath, applied in order once each;
 * {@code PRAGMA user_version} records the last one applied, inside the same transaction, so a
 * crash mid-migration leaves the previous version intact.
 */
public final class Database {
    private static final int LATEST_VERSION = 3;

    private final Jdbi jdbi;

    private Database(Jdbi jdbi) { this.jdbi = jdbi; }

    public static Database open(Path file) {
        SQLiteConfig config = new SQLiteConfig();
        config.setJournalMode(SQLiteConfig.JournalMode.WAL);
        // FULL: a commit the client was told about survives power loss, not only a process crash.
        config.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
        config.setBusyTimeout(30_000);
        config.enforceForeignKeys(true);
        SQLiteDataSource source = new SQLiteDataSource(config);
        source.setUrl("jdbc:sqlite:" + file.toAbsolutePath());
        Jdbi jdbi = Jdbi.create(source).installPlugin(new SqlObjectPlugin());
        Database database = new Database(jdbi);
        database.migrate();
        return database;
    }

    public Jdbi jdbi() { return jdbi; }

    public <T> T dao(Class<T> type) { return jdbi.onDemand(type); }

    /** True when a trivial query answers: used by {@code /healthz}. */
    public boolean isUsable() {
        try {
            return jdbi.withHandle(h -> h.createQuery("SELECT 1").mapTo(Integer.class).one()) == 1;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private void migrate() {
        jdbi.useTransaction(handle -> {
            int current = handle.createQuery("PRAGMA user_version").mapTo(Integer.class).one();
            for (int version = current + 1; version <= LATEST_VERSION; version++) {
                for (String statement : statements(read("db/V" + version + ".sql"))) {
                    handle.execute(statement);
                }
                handle.execute("PRAGMA user_version = " + version);
            }
        });
    }

    private static String read(String resource) {
        try (InputStream in = Database.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing migration " + resource);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Splits a migration file on semicolons at line ends; our migrations hold no triggers or string literals with ';'. */
    private static List<String> statements(String sql) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : sql.split("\n")) {
            String trimmed = line.strip();
            if (trimmed.startsWith("--") || trimmed.isEmpty()) continue;
            current.append(line).append('\n');
            if (trimmed.endsWith(";")) {
                out.add(current.toString());
                current.setLength(0);
            }
        }
        if (!current.toString().isBlank()) out.add(current.toString());
        return out;
    }
}
