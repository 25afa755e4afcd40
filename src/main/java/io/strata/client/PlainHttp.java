package io.strata.client;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.LongConsumer;

/**
 * One HTTP/1.1 request over a plain socket, for layer bodies on {@code http://} registries: the body
 * is read straight from the socket into the caller's (direct) buffer, which the caller writes to
 * the file, so a byte is copied once into the JVM and once out. {@link java.net.http.HttpClient}
 * copies each 16 KiB piece through the heap and hands it over through its flow-control machinery:
 * measured on a 2-core VM, a 600 MiB layer took 1.45 s to receive into a file with it and
 * 0.2–0.6 s with this. Upload chunks go the other way with sendfile. {@code https://},
 * redirects and chunked bodies stay with the JDK client.
 *
 * <p>Every wait (connect, sending the request, the head, each read) ends after the idle timeout
 * with an {@link HttpTimeoutException}; an interrupt ends it with {@link InterruptedException}.
 * The connection is used once ({@code Connection: close}).
 */
public final class PlainHttp implements AutoCloseable {
    private static final int MAX_HEAD = 64 * 1024;

    private final SocketChannel channel;
    private final Selector selector;
    private final Duration idleTimeout;
    /** A HEAD answer has headers only, whatever its Content-Length says. */
    private final boolean headRequest;
    private int status;
    private final Map<String, String> headers = new LinkedHashMap<>();
    /** Body bytes read with the head, handed out before reading the socket again. */
    private ByteBuffer leftover = ByteBuffer.allocate(0);
    /** Time spent waiting for body bytes to arrive. */
    private long waitedNanos;
    /** Body bytes still to come, or -1 when the body runs to the end of the connection. */
    private long remaining = -1;

    private PlainHttp(SocketChannel channel, Selector selector, Duration idleTimeout, boolean headRequest) {
        this.headRequest = headRequest;
        this.channel = channel;
        this.selector = selector;
        this.idleTimeout = idleTimeout;
    }

    /**
     * A request body: {@code prefix} from memory, then {@code count} bytes of {@code file} from
     * {@code position}, sent with {@link FileChannel#transferTo} (sendfile: no copy through the JVM).
     * {@code sent} hears of every byte written to the socket.
     */
    record Body(ByteBuffer prefix, FileChannel file, long position, long count, LongConsumer sent) {
        long length() { return prefix.remaining() + count; }
    }

    /** Connects, sends {@code GET url} with {@code headers}, and reads the status line and headers. */
    public static PlainHttp open(URI url, Map<String, String> requestHeaders, Duration idleTimeout) throws IOException, InterruptedException {
        return open(url, "GET", requestHeaders, null, idleTimeout);
    }

    /** Connects, sends {@code method url} with {@code headers} and {@code body} (may be null), and reads the answer's head. */
    static PlainHttp open(URI url, String method, Map<String, String> requestHeaders, Body body, Duration idleTimeout)
            throws IOException, InterruptedException {
        int port = url.getPort() < 0 ? 80 : url.getPort();
        SocketChannel channel = SocketChannel.open();
        Selector selector = null;
        PlainHttp get = null;
        try {
            channel.configureBlocking(false);
            selector = Selector.open();
            get = new PlainHttp(channel, selector, idleTimeout, method.equals("HEAD"));
            if (!channel.connect(new InetSocketAddress(url.getHost(), port))) {
                get.await(SelectionKey.OP_CONNECT, "connecting");
                channel.finishConnect();
            }
            StringBuilder request = new StringBuilder(method).append(' ').append(url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath());
            if (url.getRawQuery() != null) request.append('?').append(url.getRawQuery());
            request.append(" HTTP/1.1\r\nHost: ").append(url.getHost()).append(url.getPort() < 0 ? "" : ":" + port)
                    .append("\r\nUser-Agent: strata\r\nConnection: close\r\n");
            if (!requestHeaders.containsKey("Accept-Encoding")) request.append("Accept-Encoding: identity\r\n");
            if (body != null) request.append("Content-Length: ").append(body.length()).append("\r\n");
            requestHeaders.forEach((name, value) -> request.append(name).append(": ").append(value).append("\r\n"));
            ByteBuffer out = ByteBuffer.wrap(request.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            while (out.hasRemaining()) {
                if (channel.write(out) == 0) get.await(SelectionKey.OP_WRITE, "sending the request");
            }
            if (body != null) get.send(body);
            get.readHead();
            return get;
        } catch (IOException | InterruptedException | RuntimeException e) {
            if (get != null) get.close();
            else {
                channel.close();
                if (selector != null) selector.close();
            }
            throw e;
        }
    }

    private void send(Body body) throws IOException, InterruptedException {
        ByteBuffer prefix = body.prefix().duplicate();
        while (prefix.hasRemaining()) {
            int n = channel.write(prefix);
            if (n == 0) await(SelectionKey.OP_WRITE, "sending");
            else body.sent().accept(n);
        }
        long position = body.position();
        long left = body.count();
        while (left > 0) {
            long n = body.file().transferTo(position, left, channel);
            if (n == 0) {
                if (position >= body.file().size()) throw new EOFException("the file shrank while it was being sent");
                await(SelectionKey.OP_WRITE, "sending");
                continue;
            }
            position += n;
            left -= n;
            body.sent().accept(n);
        }
    }

    public int status() { return status; }

    /** How long reads of the body waited for bytes from the network so far. */
    public long waitedNanos() { return waitedNanos; }

    /** A response header by name (case-insensitive). */
    public Optional<String> header(String name) { return Optional.ofNullable(headers.get(name.toLowerCase(Locale.ROOT))); }

    OptionalLong contentLength() {
        try {
            return header("Content-Length").map(v -> OptionalLong.of(Long.parseLong(v.strip()))).orElse(OptionalLong.empty());
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** Whether the body is framed so this reader can take it: by Content-Length or by the end of the connection. */
    public boolean plainBody() { return header("Transfer-Encoding").isEmpty(); }

    /**
     * Reads body bytes into {@code into} (at least one, waiting up to the idle timeout for them);
     * -1 once the body is complete. A connection that closes before Content-Length bytes throws {@link EOFException}.
     */
    public int read(ByteBuffer into) throws IOException, InterruptedException {
        if (remaining == 0) return -1;
        int limit = into.limit();
        if (remaining > 0 && into.remaining() > remaining) into.limit(into.position() + (int) remaining);
        try {
            int n;
            if (leftover.hasRemaining()) {
                n = Math.min(leftover.remaining(), into.remaining());
                into.put(leftover.slice(leftover.position(), n));
                leftover.position(leftover.position() + n);
            } else {
                while ((n = channel.read(into)) == 0) {
                    long waiting = System.nanoTime();
                    await(SelectionKey.OP_READ, "receiving");
                    waitedNanos += System.nanoTime() - waiting;
                }
                if (n < 0) {
                    if (remaining > 0) throw new EOFException("the connection closed early");
                    remaining = 0;
                    return -1;
                }
            }
            if (remaining > 0) remaining -= n;
            return n;
        } finally {
            into.limit(limit);
        }
    }

    /**
     * Reads what the socket has ready into {@code into} without waiting; 0 when nothing is ready,
     * -1 at the end of the body. Lets the caller fill its buffer before writing it.
     */
    public int readReady(ByteBuffer into) throws IOException {
        if (remaining == 0 || leftover.hasRemaining()) return remaining == 0 ? -1 : 0;
        int limit = into.limit();
        if (remaining > 0 && into.remaining() > remaining) into.limit(into.position() + (int) remaining);
        try {
            int n = channel.read(into);
            if (n < 0) {
                if (remaining > 0) throw new EOFException("the connection closed early");
                remaining = 0;
                return -1;
            }
            if (remaining > 0) remaining -= n;
            return n;
        } finally {
            into.limit(limit);
        }
    }

    /** The whole body, for small answers (the index, an error). */
    byte[] readAll() throws IOException, InterruptedException {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        while (read(buffer.clear()) >= 0) all.write(buffer.array(), 0, buffer.position());
        return all.toByteArray();
    }

    private void readHead() throws IOException, InterruptedException {
        ByteBuffer head = ByteBuffer.allocate(MAX_HEAD);
        int end;
        while ((end = headEnd(head)) < 0) {
            if (!head.hasRemaining()) throw new IOException("the response head is larger than " + MAX_HEAD + " bytes");
            int n = channel.read(head);
            if (n < 0) throw new EOFException(head.position() == 0 ? "the connection closed before the registry answered" : "the connection closed early");
            if (n == 0) await(SelectionKey.OP_READ, "waiting for the answer");
        }
        String[] lines = new String(head.array(), 0, end, StandardCharsets.ISO_8859_1).split("\r\n");
        String[] statusLine = lines[0].split(" ", 3);
        if (statusLine.length < 2 || !statusLine[0].startsWith("HTTP/1.")) throw new IOException("not an HTTP/1.1 answer: " + lines[0]);
        try {
            status = Integer.parseInt(statusLine[1]);
        } catch (NumberFormatException e) {
            throw new IOException("not an HTTP status: " + lines[0]);
        }
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) headers.merge(lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).strip(), (a, b) -> a + ", " + b);
        }
        leftover = ByteBuffer.wrap(head.array(), end + 4, head.position() - end - 4);
        remaining = headRequest || status == 204 || status == 304 ? 0 : contentLength().orElse(-1);
        if (remaining > 0 && leftover.remaining() > remaining) leftover.limit(leftover.position() + (int) remaining);
    }

    /** Where the blank line ending the head starts, or -1 if it has not arrived. */
    private static int headEnd(ByteBuffer head) {
        byte[] bytes = head.array();
        for (int i = 0; i + 3 < head.position(); i++) {
            if (bytes[i] == '\r' && bytes[i + 1] == '\n' && bytes[i + 2] == '\r' && bytes[i + 3] == '\n') return i;
        }
        return -1;
    }

    private void await(int operation, String doing) throws IOException, InterruptedException {
        SelectionKey key = channel.register(selector, operation);
        long deadline = System.nanoTime() + idleTimeout.toNanos();
        try {
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) throw new HttpTimeoutException("nothing for " + Human.seconds(idleTimeout) + " while " + doing);
                int ready = selector.select(left);
                if (Thread.interrupted()) throw new InterruptedException();
                if (ready > 0) return;
            }
        } finally {
            selector.selectedKeys().clear();
            key.interestOps(0);
        }
    }

    @Override
    public void close() {
        try {
            selector.close();
        } catch (IOException e) {
            // nothing to keep
        }
        try {
            channel.close();
        } catch (IOException e) {
            // nothing to keep
        }
    }
}
