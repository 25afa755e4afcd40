package io.strata.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy between a client and a real server that breaks connections the way networks do,
 * deterministically for a seed: it cuts a connection after a random number of bytes (half the
 * time with a FIN, half with a RST), stalls one (stops forwarding but keeps it open), or answers
 * {@code 503} without reaching the server. Each connection draws its fate when it is accepted.
 *
 * <p>It counts the bytes it forwarded from the server to the client, which is what a download
 * cost on the wire, and in the other direction for uploads. The socket towards the client gets a
 * small send buffer so that bytes counted here and then lost to a RST are at most a few KiB.
 */
public final class FaultyTcpProxy implements AutoCloseable {
    /** Which way the cut and stall faults count bytes: downloads break on server→client bytes, uploads on client→server. */
    public enum Direction { DOWNLOAD, UPLOAD }

    /**
     * Fault probabilities per connection (the rest pass untouched) and where cuts and stalls strike.
     *
     * @param maxBytesBeforeFault a cut or stall strikes after a uniform 0..this many bytes in its direction
     */
    public record Faults(double cut, double stall, double error503, long maxBytesBeforeFault, Direction direction) {
        public static final Faults NONE = new Faults(0, 0, 0, 0, Direction.DOWNLOAD);
    }

    private static final int CLIENT_SEND_BUFFER = 16 * 1024;
    private static final byte[] SERVICE_UNAVAILABLE = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            + "Content-Length: 12\r\nConnection: close\r\n\r\nunavailable\n").getBytes(StandardCharsets.US_ASCII);

    private final InetSocketAddress target;
    private final ServerSocket listener;
    private final Random random;
    private volatile Faults faults;
    private volatile long throttle;
    private final AtomicLong toClient = new AtomicLong();
    private final AtomicLong toServer = new AtomicLong();
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger cuts = new AtomicInteger();
    private final AtomicInteger stalls = new AtomicInteger();
    private final AtomicInteger errors = new AtomicInteger();
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    public FaultyTcpProxy(URI server, long seed, Faults faults) throws IOException {
        this.target = new InetSocketAddress(server.getHost(), server.getPort());
        this.random = new Random(seed);
        this.faults = faults;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::acceptLoop, "faulty-proxy-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** The proxy's base URL, e.g. {@code http://127.0.0.1:40123}. */
    public String url() { return "http://127.0.0.1:" + listener.getLocalPort(); }

    public void setFaults(Faults faults) { this.faults = faults; }

    /** Limits each connection's server→client bytes per second, like a long or congested link (0: no limit). */
    public void setThrottle(long bytesPerSecond) { this.throttle = bytesPerSecond; }

    /** Bytes forwarded from the server to clients. */
    public long bytesToClient() { return toClient.get(); }

    /** Bytes forwarded from clients to the server. */
    public long bytesToServer() { return toServer.get(); }

    public int connections() { return connections.get(); }

    /** Cuts every open connection now (with a RST), as a network outage would. */
    public void cutAll() {
        for (Socket socket : open) {
            try {
                socket.setSoLinger(true, 0);
            } catch (SocketException ignored) {
                // closing still cuts
            }
            closeQuietly(socket);
        }
    }

    public int cuts() { return cuts.get(); }

    public int stalls() { return stalls.get(); }

    public int errors() { return errors.get(); }

    public void resetCounters() {
        toClient.set(0);
        toServer.set(0);
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                connections.incrementAndGet();
                Thread handler = new Thread(() -> handle(client), "faulty-proxy-connection");
                handler.setDaemon(true);
                handler.start();
            } catch (IOException e) {
                if (!closed) sleepQuietly(10);
            }
        }
    }

    /** What one connection will suffer, drawn in accept order from the seeded generator. */
    private record Fate(String kind, long afterBytes, boolean reset) {}

    private Fate draw() {
        Faults f = faults;
        synchronized (random) {
            double roll = random.nextDouble();
            long after = f.maxBytesBeforeFault() <= 0 ? 0 : (long) (random.nextDouble() * f.maxBytesBeforeFault());
            boolean reset = random.nextBoolean();
            if (roll < f.cut()) return new Fate("cut", after, reset);
            if (roll < f.cut() + f.stall()) return new Fate("stall", after, false);
            if (roll < f.cut() + f.stall() + f.error503()) return new Fate("503", 0, false);
            return new Fate("none", Long.MAX_VALUE, false);
        }
    }

    private void handle(Socket client) {
        Fate fate = draw();
        open.add(client);
        // close() sets the flag before it closes what is open: a connection the listener let in
        // while it was closing (a blocked accept() can still return one) is closed here instead.
        if (closed) {
            closeQuietly(client);
            return;
        }
        try {
            client.setSendBufferSize(CLIENT_SEND_BUFFER);
            client.setTcpNoDelay(true);
            if (fate.kind().equals("503")) {
                errors.incrementAndGet();
                readRequestHead(client.getInputStream());
                client.getOutputStream().write(SERVICE_UNAVAILABLE);
                client.getOutputStream().flush();
                client.shutdownOutput();
                sleepQuietly(50);
                return;
            }
            try (Socket server = new Socket()) {
                open.add(server);
                server.setSendBufferSize(CLIENT_SEND_BUFFER); // likewise for uploads: little counted that a cut then drops
                server.connect(target, 5000);
                server.setTcpNoDelay(true);
                Faults f = faults;
                boolean downloadFault = f.direction() == Direction.DOWNLOAD;
                AtomicBoolean ended = new AtomicBoolean();
                Thread up = new Thread(() -> pump(client, server, toServer, downloadFault ? noFate() : fate, ended),
                        "faulty-proxy-up");
                up.setDaemon(true);
                up.start();
                pump(server, client, toClient, downloadFault ? fate : noFate(), ended);
                up.join(60_000);
            }
        } catch (IOException | InterruptedException e) {
            // the client or server went away: nothing to forward any more
        } finally {
            closeQuietly(client);
        }
    }

    private static Fate noFate() { return new Fate("none", Long.MAX_VALUE, false); }

    /** Copies {@code from} to {@code to} until either side closes or the fate strikes. */
    private void pump(Socket from, Socket to, AtomicLong counter, Fate fate, AtomicBoolean ended) {
        byte[] buffer = new byte[16 * 1024];
        long forwarded = 0;
        long started = System.nanoTime();
        boolean download = counter == toClient;
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            while (true) {
                int allowed = (int) Math.min(buffer.length, fate.afterBytes() - forwarded);
                if (allowed <= 0) {
                    strike(fate, from, to, ended);
                    return;
                }
                int n = in.read(buffer, 0, allowed);
                if (n < 0) {
                    ended.set(true);
                    break;
                }
                out.write(buffer, 0, n);
                out.flush();
                counter.addAndGet(n);
                forwarded += n;
                long limit = throttle;
                if (download && limit > 0) {
                    long due = started + forwarded * 1_000_000_000L / limit;
                    long wait = due - System.nanoTime();
                    if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            to.shutdownOutput();
        } catch (IOException e) {
            ended.set(true);
            closeQuietly(from);
            closeQuietly(to);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private void strike(Fate fate, Socket from, Socket to, AtomicBoolean ended) {
        if (fate.kind().equals("stall")) {
            stalls.incrementAndGet();
            // Hold the connection open with nothing moving until the other side gives up (or the proxy closes).
            while (!closed && !ended.get() && !to.isClosed() && !from.isClosed()) sleepQuietly(50);
            closeQuietly(from);
            closeQuietly(to);
            return;
        }
        cuts.incrementAndGet();
        try {
            if (fate.reset()) {
                from.setSoLinger(true, 0);
                to.setSoLinger(true, 0);
            }
        } catch (SocketException ignored) {
            // closing still cuts
        }
        closeQuietly(from);
        closeQuietly(to);
    }

    private static void readRequestHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            head.append((char) b);
            if (head.length() >= 4 && head.substring(head.length() - 4).equals("\r\n\r\n")) return;
            if (head.length() > 64 * 1024) return;
        }
    }

    private static void sleepQuietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Socket socket : open) closeQuietly(socket);
    }
}
