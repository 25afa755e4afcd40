package io.strata.lxd;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code strata serve} in a child JVM ({@code java -cp}), so a test can SIGKILL it or compare what another JVM makes. */
final class ChildServer implements AutoCloseable {
    final Process process;
    final URI base;

    ChildServer(Path data, String... options) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx96m", "-cp", System.getProperty("java.class.path"), "io.strata.cli.Main",
                "serve", "--data", data.toString(), "--port", "0"));
        command.addAll(List.of(options));
        process = new ProcessBuilder(command).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        Pattern listening = Pattern.compile("strata listening on (http://\\S+)");
        URI found = null;
        StringBuilder seen = new StringBuilder();
        for (String line; found == null && (line = out.readLine()) != null; ) {
            seen.append(line).append('\n');
            Matcher m = listening.matcher(line);
            if (m.find()) found = URI.create(m.group(1));
        }
        if (found == null) throw new IOException("the server did not start:\n" + seen);
        base = found;
        Thread drain = new Thread(() -> {
            try {
                out.transferTo(java.io.Writer.nullWriter());
            } catch (IOException ignored) {
                // the process is gone
            }
        });
        drain.setDaemon(true);
        drain.start();
    }

    /** SIGKILL on Linux: no shutdown hook, no cleanup, leases left as they were. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        assertTrue(process.waitFor(20, TimeUnit.SECONDS));
    }

    @Override
    public void close() throws InterruptedException { kill(); }
}
