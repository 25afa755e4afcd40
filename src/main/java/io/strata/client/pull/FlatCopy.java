package io.strata.client.pull;

import io.strata.client.ClientException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * {@code pull --flat OUT}: one standalone qcow2 of a pulled chain, for consumers that want a single
 * file (Ironic, a plain {@code -drive file=}). Made locally by {@code qemu-img convert} from the
 * cached layers, so nothing is downloaded twice; written beside OUT and renamed, so OUT is either
 * absent or complete.
 */
public final class FlatCopy {
    private FlatCopy() {}

    public static void write(Path top, Path out) throws IOException, InterruptedException {
        Path target = out.toAbsolutePath();
        Path parent = target.getParent();
        if (parent != null) Files.createDirectories(parent);
        Path temp = (parent == null ? Path.of(".") : parent).resolve("." + target.getFileName() + ".part");
        List<String> command = List.of("qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", top.toString(), temp.toString());
        Process process;
        try {
            process = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new ClientException("--flat needs qemu-img on this machine (on Debian: apt-get install qemu-utils); "
                    + "the chain is pulled, its top layer is " + top, e);
        }
        process.getOutputStream().close();
        CompletableFuture<String> stderr = new CompletableFuture<>();
        Thread reader = new Thread(() -> stderr.complete(read(process.getErrorStream())), "strata-flat-stderr");
        reader.setDaemon(true);
        reader.start();
        int exit = process.waitFor();
        if (exit != 0) {
            Files.deleteIfExists(temp);
            throw new ClientException("qemu-img convert of " + top + " into " + out + " failed (exit " + exit + "): "
                    + stderr.join().strip());
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static String read(InputStream stream) {
        try (stream) {
            return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
