package io.strata.db;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.MigrationVersion;
import org.flywaydb.core.api.configuration.FluentConfiguration;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.sqlobject.SqlObjectPlugin;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

import javax.sql.DataSource;
import java.nio.file.Path;

/**
 * The embedded SQLite database ({@code strata.db}, WAL) and its schema migrations.
 *
 * <p>Migrations are Flyway's versioned files {@code db/migration/V<n>__<what>.sql} on the classpath,
 * recorded in {@code flyway_schema_history}. A data directory made before Flyway recorded its schema
 * version in {@code PRAGMA user_version} only; such a database is baselined at that version the first
 * time it is opened, so it upgrades in place and never re-runs a migration it already has.
 */
public final class Database {

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
        database.migrate(source);
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

    private void migrate(DataSource source) {
        int legacyVersion = jdbi.withHandle(handle -> {
            boolean hasHistory = handle.createQuery(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'flyway_schema_history'")
                    .mapTo(Integer.class).one() > 0;
            return hasHistory ? 0 : handle.createQuery("PRAGMA user_version").mapTo(Integer.class).one();
        });
        FluentConfiguration flyway = Flyway.configure()
                .dataSource(source)
                .locations("classpath:db/migration")
                .failOnMissingLocations(true);
        if (legacyVersion > 0) {
            // Made by the runner before Flyway: its schema is exactly migrations 1..user_version.
            flyway.baselineVersion(MigrationVersion.fromVersion(Integer.toString(legacyVersion)))
                    .baselineDescription("schema made before Flyway (PRAGMA user_version " + legacyVersion + ")")
                    .baselineOnMigrate(true);
        }
        flyway.load().migrate();
    }
}
