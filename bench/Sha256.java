import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * The JDK SHA-256 floor for bench/pull-push.sh: hashes each file given (read with a 4 MiB direct
 * buffer, as Strata does) and prints the seconds spent, JVM start-up excluded.
 */
public class Sha256 {
    public static void main(String[] args) throws Exception {
        long start = System.nanoTime();
        ByteBuffer buffer = ByteBuffer.allocateDirect(4 << 20);
        for (String file : args) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            try (FileChannel channel = FileChannel.open(Path.of(file), StandardOpenOption.READ)) {
                while (channel.read(buffer.clear()) > 0) sha.update(buffer.flip());
            }
            System.err.println(HexFormat.of().formatHex(sha.digest()) + "  " + file);
        }
        System.out.printf("%.3f%n", (System.nanoTime() - start) / 1e9);
    }
}
