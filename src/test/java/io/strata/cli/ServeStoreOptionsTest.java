package io.strata.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What serve's store options turn into; the stores themselves are tested by the LayerStore contract. */
class ServeStoreOptionsTest {
    private static io.strata.config.StoreConfig parse(String... args) {
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs(args);
        return serve.store();
    }

    @Test
    void uploads_are_written_direct_unless_buffered_uploads_is_given() {
        assertTrue(parse().directWrites());
        assertFalse(parse("--buffered-uploads").directWrites());
    }
}
