import io.strata.db.Database;
import io.strata.upload.CheckpointRows;
import io.strata.upload.UploadDao;
import java.lang.management.ManagementFactory;
import java.nio.file.*;
import java.sql.*;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;
import org.jdbi.v3.sqlobject.SqlObjectPlugin;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

/**
 * What the two statements of every upload chunk (the session row read and the checkpoint UPDATE)
 * cost once warm, on SQLite, four ways: CheckpointRows, which UploadService uses (plain JDBC over
 * the checkpoint pool, a statement prepared per call), the on-demand Jdbi SQL object it used
 * before, one long-lived handle with that SQL object attached, and plain JDBC on one connection
 * with statements prepared once (the floor). Prints CPU and allocation per pair for the last 2 of
 * 5 rounds of 20,000 pairs each.
 *
 *   mvn -q -DskipTests package && java -Xmx64m -XX:+UseParallelGC -cp target/strata.jar bench/CheckpointCost.java
 */
public class CheckpointCost {
    /** The checkpoint UPDATE as the Jdbi SQL object UploadDao had it before CheckpointRows. */
    public interface JdbiCheckpoint extends UploadDao {
        @SqlUpdate("UPDATE uploads SET received = :received, hash_state = :hash, store_state = :store, updated_at = :now "
                + "WHERE id = :id AND received = :from")
        int update(@Bind("id") String id, @Bind("from") long from, @Bind("received") long received, @Bind("hash") String hashState,
                   @Bind("store") String storeState, @Bind("now") String now);
    }
    interface Step { void run(int i) throws Exception; }
    static final com.sun.management.ThreadMXBean MX = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    static void measure(String name, Step step) throws Exception {
        for (int round = 0; round < 5; round++) {
            int n = 20000;
            long b0 = MX.getCurrentThreadAllocatedBytes(), c0 = MX.getCurrentThreadCpuTime();
            for (int i = 0; i < n; i++) step.run(round * n + i);
            long c1 = MX.getCurrentThreadCpuTime(), b1 = MX.getCurrentThreadAllocatedBytes();
            if (round >= 3) System.out.printf("%-28s find+update: %.1f us cpu, %d bytes allocated%n", name, (c1 - c0) / 1e3 / n, (b1 - b0) / n);
        }
    }
    public static void main(String[] a) throws Exception {
        Path dir = Files.createTempDirectory("strata-checkpoint-cost");
        Path file = dir.resolve("strata.db");
        Database db = Database.open(file);
        String id = "0123456789abcdef0123456789abcdef";
        db.jdbi().useHandle(h -> h.execute("INSERT INTO uploads (id, received, created_at, updated_at) VALUES (?, 0, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')", id));
        long[] at = {0};
        CheckpointRows rows = new CheckpointRows(db.checkpointSource());
        measure("CheckpointRows (today)", i -> { rows.find(id).orElseThrow(); if (rows.update(id, at[0], at[0] + 1, null, null, "2026-12-01T00:00:01Z") == 1) at[0]++; });

        JdbiCheckpoint onDemand = Jdbi.create(db.checkpointSource()).installPlugin(new SqlObjectPlugin()).onDemand(JdbiCheckpoint.class);
        measure("on-demand Jdbi SQL object", i -> { onDemand.find(id).orElseThrow(); if (onDemand.update(id, at[0], at[0] + 1, null, null, "2026-12-01T00:00:01Z") == 1) at[0]++; });

        SQLiteConfig config = new SQLiteConfig();
        config.setJournalMode(SQLiteConfig.JournalMode.WAL);
        config.setSynchronous(SQLiteConfig.SynchronousMode.NORMAL);
        config.setBusyTimeout(5000);
        SQLiteDataSource normal = new SQLiteDataSource(config);
        normal.setUrl("jdbc:sqlite:" + file);
        Handle handle = Jdbi.create(normal).installPlugin(new SqlObjectPlugin()).open();
        JdbiCheckpoint attached = handle.attach(JdbiCheckpoint.class);
        measure("one handle, attached DAO", i -> { attached.find(id).orElseThrow(); if (attached.update(id, at[0], at[0] + 1, null, null, "2026-12-01T00:00:01Z") == 1) at[0]++; });

        Connection c = normal.getConnection();
        PreparedStatement find = c.prepareStatement("SELECT * FROM uploads WHERE id = ?");
        PreparedStatement update = c.prepareStatement("UPDATE uploads SET received = ?, hash_state = ?, store_state = ?, updated_at = ? WHERE id = ? AND received = ?");
        measure("plain JDBC, prepared", i -> {
            find.setString(1, id);
            try (ResultSet rs = find.executeQuery()) { rs.next(); rs.getLong("received"); rs.getString("hash_state"); rs.getString("store_state"); rs.getString("created_at"); }
            update.setLong(1, at[0] + 1); update.setString(2, null); update.setString(3, null); update.setString(4, "2026-12-01T00:00:01Z"); update.setString(5, id); update.setLong(6, at[0]);
            if (update.executeUpdate() == 1) at[0]++;
        });
        System.out.println("checkpoints advanced to " + at[0]);
        c.close();
        handle.close();
        db.close();
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        System.exit(0);
    }
}
