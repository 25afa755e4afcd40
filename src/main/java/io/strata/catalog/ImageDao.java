package io.strata.catalog;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.layer.Digest;
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.StatementContext;
import org.jdbi.v3.sqlobject.config.RegisterRowMapper;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The {@code images} table. */
@RegisterRowMapper(ImageDao.Mapper.class)
public interface ImageDao {
    @SqlQuery("SELECT * FROM images WHERE fingerprint = :fingerprint")
    Optional<Image> find(@Bind("fingerprint") String fingerprint);

    @SqlQuery("SELECT * FROM images WHERE product = :product AND version = :version")
    Optional<Image> findVersion(@Bind("product") String product, @Bind("version") String version);

    /** Newest first: version serials sort as text. */
    @SqlQuery("SELECT * FROM images WHERE product = :product ORDER BY version DESC")
    List<Image> versions(@Bind("product") String product);

    @SqlQuery("SELECT * FROM images ORDER BY product, version DESC")
    List<Image> all();

    @SqlQuery("SELECT count(*) FROM images WHERE ' ' || chain || ' ' LIKE '% ' || :digest || ' %'")
    int countUsing(@Bind("digest") String digest);

    @SqlUpdate("INSERT INTO images (fingerprint, product, os, release, arch, variant, version, release_title, description, "
            + "properties, chain, download_size, virtual_size, created_at) VALUES (:fingerprint, :product, :os, :release, :arch, "
            + ":variant, :version, :releaseTitle, :description, :properties, :chain, :downloadSize, :virtualSize, :createdAt)")
    void insert(@Bind("fingerprint") String fingerprint, @Bind("product") String product, @Bind("os") String os,
                @Bind("release") String release, @Bind("arch") String arch, @Bind("variant") String variant,
                @Bind("version") String version, @Bind("releaseTitle") String releaseTitle,
                @Bind("description") String description, @Bind("properties") String properties, @Bind("chain") String chain,
                @Bind("downloadSize") long downloadSize, @Bind("virtualSize") long virtualSize, @Bind("createdAt") String createdAt);

    @SqlUpdate("DELETE FROM images WHERE fingerprint = :fingerprint")
    int delete(@Bind("fingerprint") String fingerprint);

    final class Mapper implements RowMapper<Image> {
        private static final ObjectMapper JSON = new ObjectMapper();
        private static final TypeReference<Map<String, String>> PROPERTIES = new TypeReference<>() {};

        @Override
        public Image map(ResultSet rs, StatementContext ctx) throws SQLException {
            Map<String, String> properties;
            try {
                properties = JSON.readValue(rs.getString("properties"), PROPERTIES);
            } catch (Exception e) {
                throw new SQLException("unreadable properties of image " + rs.getString("fingerprint"), e);
            }
            return new Image(new Digest(rs.getString("fingerprint")),
                    new Product(rs.getString("os"), rs.getString("release"), rs.getString("arch"), rs.getString("variant")),
                    rs.getString("version"), rs.getString("release_title"), rs.getString("description"), properties,
                    Arrays.stream(rs.getString("chain").split(" ")).map(Digest::new).toList(),
                    rs.getLong("download_size"), rs.getLong("virtual_size"), Instant.parse(rs.getString("created_at")));
        }
    }
}
