package io.strata.lxd;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Makes one standalone qcow2 of a whole chain with {@code qemu-img convert -c} (zlib clusters,
 * which every qemu since 1.x reads; zstd would need qemu 5.1 on the LXD host). qemu-img is a
 * runtime dependency of the LXD feature, looked for once at startup.
 *
 * <p>The chain is read over the registry's own HTTP URL ({@code /layers/<top>.qcow2}): qemu
 * resolves each relative backing name against it (DESIGN §1), so this works unchanged on every
 * layer store, local or object storage, without copying the chain to a temp directory first.
 */
public final class Flattener {
    private final String qemuImg;

    public Flattener(String qemuImg) { this.qemuImg = qemuImg; }

    public String command() { return qemuImg; }

    /** Empty when qemu-img can flatten over HTTP; otherwise why not, in words for the operator. */
    public Optional<String> unavailable() {
        try {
            Result version = run(List.of(qemuImg, "--version"), () -> false, null);
            if (version.exit() != 0) return Optional.of("'" + qemuImg + " --version' failed: " + version.stderr().strip());
            Result help = run(List.of(qemuImg, "--help"), () -> false, null);
            if (!(" " + help.stdout() + " ").contains(" http ")) {
                return Optional.of(qemuImg + " cannot read over HTTP (on Debian: apt-get install qemu-block-extra)");
            }
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of(qemuImg + " was not found (on Debian: apt-get install qemu-utils qemu-block-extra)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted while looking for " + qemuImg);
        }
    }

    /**
     * Writes the flattened, compressed image of the chain whose top is at {@code url} to {@code target}.
     * Stops qemu-img (and throws) when {@code cancelled} turns true or the thread is interrupted.
     */
    public void flatten(String url, Path target, BooleanSupplier cancelled) throws IOException, InterruptedException {
        // -f qcow2: never probe a format from bytes; -c: compressed clusters; in-order writes (no -W), so
        // equal chains flatten to equal bytes with the same qemu. -m 1: qemu 7.2's HTTP driver hangs for
        // good (no CPU, connections idle) when several coroutines read a chain for a compressed target;
        // one coroutine does not, and zlib is the bottleneck anyway.
        List<String> command = List.of(qemuImg, "convert", "-m", "1", "-f", "qcow2", "-O", "qcow2", "-c",
                "-o", "compression_type=zlib", url, target.toString());
        Result result = run(command, cancelled, target);
        if (result.exit() != 0) {
            throw new IOException("qemu-img convert exited with " + result.exit() + ": " + lastLines(result.stderr()));
        }
    }

    private record Result(int exit, String stdout, String stderr) {}

    /** A qemu-img whose output has not grown for this long is stuck, not slow: it is stopped and the job retried. */
    static final Duration STALL = Duration.ofMinutes(5);

    /** Runs {@code command}; with {@code output}, stops it when that file stops growing for {@link #STALL}. */
    private static Result run(List<String> command, BooleanSupplier cancelled, Path output) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).start();
        process.getOutputStream().close();
        CompletableFuture<String> stdout = read(process.getInputStream());
        CompletableFuture<String> stderr = read(process.getErrorStream());
        long size = -1;
        long grewAt = System.nanoTime();
        try {
            while (!process.waitFor(200, TimeUnit.MILLISECONDS)) {
                if (cancelled.getAsBoolean()) throw new IOException("stopped: the job's lease was lost");
                if (output == null) continue;
                long now = Files.exists(output) ? Files.size(output) : 0;
                if (now != size) {
                    size = now;
                    grewAt = System.nanoTime();
                } else if (System.nanoTime() - grewAt > STALL.toNanos()) {
                    throw new IOException("qemu-img made no progress for " + STALL.toMinutes() + " minutes (" + size
                            + " bytes written); stopped it, the job is retried");
                }
            }
        } finally {
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
        return new Result(process.exitValue(), stdout.join(), stderr.join());
    }

    /** Its own thread, not the common pool: on a 2-core machine that pool has one thread, and two blocking reads would deadlock. */
    private static CompletableFuture<String> read(InputStream stream) {
        CompletableFuture<String> text = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (stream) {
                text.complete(new String(stream.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                text.complete("");
            }
        }, "strata-qemu-img-output");
        reader.setDaemon(true);
        reader.start();
        return text;
    }

    private static String lastLines(String text) {
        List<String> lines = text.strip().lines().toList();
        String tail = String.join(" / ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
        return tail.isEmpty() ? "(no message)" : tail;
    }
}
