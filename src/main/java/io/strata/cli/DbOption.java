package io.strata.cli;

import io.strata.config.DbConfig;
import picocli.CommandLine.Option;

/** {@code --db}, shared by every command that opens the metadata database. */
final class DbOption {
    @Option(names = "--db", paramLabel = "JDBC_URL", defaultValue = "${env:STRATA_DB}",
            description = {"Metadata in PostgreSQL instead of strata.db in --data, e.g. jdbc:postgresql://db:5432/strata?user=strata;",
                    "the password comes from STRATA_DB_PASSWORD or PGPASSWORD, never from the URL (env STRATA_DB)."})
    String url;

    DbConfig config() { return DbConfig.parse(url, System.getenv()); }
}
