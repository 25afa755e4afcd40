package io.strata.db;

import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The embedded database's two kinds of commit: durable ones, and upload checkpoints that skip the fsync. */
class EmbeddedDurabilityTest {
    /** SQLite's own answer for the connection it runs on: 2 = FULL, 1 = NORMAL. */
    public interface Synchronous {
        @SqlQuery("PRAGMA synchronous")
        int level();
    }

    @Test
    void commits_are_fsynced_and_only_checkpoints_skip_it(@TempDir Path dir) throws SQLException {
        try (Database database = Database.open(dir.resolve("strata.db"))) {
            assertEquals(2, database.dao(Synchronous.class).level(), "layers, images and tokens commit with synchronous=FULL");
            assertEquals(1, level(database.checkpointSource()), "upload checkpoints commit with synchronous=NORMAL");
            assertEquals(2, database.dao(Synchronous.class).level(), "opening the checkpoint connection changed nothing for the others");
        }
    }

    /** The level of a connection from {@code source}, the way the upload checkpoints reach the database. */
    private static int level(DataSource source) throws SQLException {
        try (Connection connection = source.getConnection(); Statement statement = connection.createStatement();
             ResultSet rs = statement.executeQuery("PRAGMA synchronous")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
