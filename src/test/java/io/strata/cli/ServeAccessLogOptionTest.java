package io.strata.cli;

import io.strata.metrics.AccessLogTarget;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code serve --access-log PATH|-|off}: off unless asked for. */
class ServeAccessLogOptionTest {
    private static AccessLogTarget parse(String... args) {
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs(args);
        return serve.accessLog();
    }

    @Test
    void the_access_log_is_off_by_default_and_can_go_to_standard_output_or_a_file() {
        if (System.getenv("STRATA_ACCESS_LOG") == null) assertEquals(AccessLogTarget.OFF, parse());
        assertEquals(AccessLogTarget.STDOUT, parse("--access-log", "-"));
        assertEquals(AccessLogTarget.OFF, parse("--access-log", "off"));
        assertEquals(AccessLogTarget.file(Path.of("logs/access.log").toAbsolutePath()), parse("--access-log", "logs/access.log"));
        assertThrows(IllegalArgumentException.class, () -> parse("--access-log", " "));
    }
}
