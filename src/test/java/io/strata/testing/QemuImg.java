package io.strata.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs the real {@code qemu-img} and {@code qemu-io}, so tests use files qemu made rather than
 * hand-written imitations. Every call has a timeout; a failing command fails the test with its
 * stderr.
 */
public final class QemuImg {
    /** Generous for small images; LUKS key derivation alone takes a few seconds. */
    public static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** What a finished command left behind. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {}

    private QemuImg() {}

    /**
     * Skips the calling test when qemu-img is not installed, except on CI ({@code CI=true}),
     * where a missing qemu-img must not silently turn the qcow2 tests into skips.
     */
    public static void assumeAvailable() {
        if (isOnPath("qemu-img") && isOnPath("qemu-io")) {
            return;
        }
        String missing = "qemu-img/qemu-io not on PATH (apt-get install qemu-utils)";
        if ("true".equals(System.getenv("CI"))) {
            fail(missing + "; CI=true, so the qcow2 tests may not be skipped");
        }
        Assumptions.abort(missing);
    }

    /** {@code qemu-img create -f qcow2 [extraOptions...] file size}, e.g. {@code "-o", "compat=0.10"}. */
    public static String create(Path file, String size, String... extraOptions) {
        List<String> command = new ArrayList<>(List.of("qemu-img", "create", "-f", "qcow2"));
        command.addAll(List.of(extraOptions));
        command.add(file.toString());
        command.add(size);
        return runOrFail(command);
    }

    /**
     * A LUKS-encrypted qcow2 image (passphrase {@code 123456}). qemu 7.2 as packaged by Debian
     * sometimes fails its PBKDF benchmark with "Unable to get accurate CPU usage" on fast machines
     * (fixed upstream in 2025), so that one failure is retried.
     */
    public static String createEncrypted(Path file, String size) {
        List<String> command = List.of("qemu-img", "create", "-f", "qcow2", "--object", "secret,id=sec0,data=123456",
                "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", file.toString(), size);
        Result result = run(command);
        for (int retry = 0; retry < 5 && result.stderr().contains("Unable to get accurate CPU usage"); retry++) {
            result = run(command);
        }
        if (result.exitCode() != 0) {
            fail(describe(result));
        }
        return result.stdout();
    }

    /**
     * A child of {@code backing} with its size, the way a publisher builds a local chain. The
     * name is written as given; qemu resolves a relative name against the child's directory.
     */
    public static String createChild(Path file, Path backing) {
        return runOrFail(List.of("qemu-img", "create", "-f", "qcow2", "-b", backing.toString(), "-F", "qcow2",
                file.toString()));
    }

    /** Rewrites only the backing name and format ({@code qemu-img rebase -u -F qcow2 -b NAME}). */
    public static String rebaseUnsafe(Path file, String backingName) {
        return runOrFail(List.of("qemu-img", "rebase", "-u", "-F", "qcow2", "-b", backingName, file.toString()));
    }

    /** Writes {@code length} bytes of {@code pattern} (0..255) at {@code offset} of the guest disk. */
    public static String writePattern(Path file, long offset, int length, int pattern) {
        return io(file, "write -P " + pattern + " " + offset + " " + length);
    }

    /** Runs {@code qemu-io} commands ({@code -c}) against a qcow2 file. */
    public static String io(Path file, String... commands) {
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String each : commands) {
            command.add("-c");
            command.add(each);
        }
        command.add(file.toString());
        return runOrFail(command);
    }

    /** {@code qemu-img info --output=json} of the file alone, without opening its backing chain. */
    public static String info(Path file) {
        return runOrFail(List.of("qemu-img", "info", "--output=json", "-f", "qcow2", file.toString()));
    }

    /** {@code qemu-img check}; fails on leaks or corruption (non-zero exit). */
    public static String check(Path file) {
        return runOrFail(List.of("qemu-img", "check", "-f", "qcow2", file.toString()));
    }

    /** Whether two images show the same guest content ({@code qemu-img compare}, exit 0 or 1). */
    public static boolean compare(Path first, Path second) {
        Result result = run(List.of("qemu-img", "compare", first.toString(), second.toString()));
        if (result.exitCode() > 1) {
            fail(describe(result));
        }
        return result.exitCode() == 0;
    }

    /** Runs a command and returns its stdout, failing the test on a non-zero exit. */
    public static String runOrFail(List<String> command) {
        Result result = run(command);
        if (result.exitCode() != 0) {
            fail(describe(result));
        }
        return result.stdout();
    }

    /** Runs a command whatever its exit code, e.g. to see how qemu rejects a file. */
    public static Result run(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).start();
            process.getOutputStream().close(); // qemu-io would otherwise wait for commands on stdin
            CompletableFuture<String> stdout = readAsync(process.getInputStream());
            CompletableFuture<String> stderr = readAsync(process.getErrorStream());
            if (!process.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                fail("timed out after " + TIMEOUT + ": " + String.join(" ", command));
            }
            return new Result(List.copyOf(command), process.exitValue(), stdout.join(), stderr.join());
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", command), e);
        }
    }

    private static String describe(Result result) {
        return String.join(" ", result.command()) + " exited with " + result.exitCode() + ": " + result.stderr().strip();
    }

    private static CompletableFuture<String> readAsync(InputStream stream) {
        return CompletableFuture.supplyAsync(() -> {
            try (stream) {
                return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static boolean isOnPath(String program) {
        String path = System.getenv("PATH");
        return path != null && List.of(path.split(File.pathSeparator)).stream()
                .anyMatch(directory -> Files.isExecutable(Path.of(directory, program)));
    }
}
