package io.strata.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * HTTP/1.1 by hand, for what a well-behaved client library will not send: bodies shorter than
 * their Content-Length, connections dropped mid-body, requests held open.
 */
public final class RawHttp implements AutoCloseable {
    private final Socket socket;
    private final OutputStream out;

    private RawHttp(Socket socket) throws IOException {
        this.socket = socket;
        this.out = socket.getOutputStream();
    }

    /** Opens a connection and sends the request line, headers and the first part of a body. */
    public static RawHttp begin(URI base, String method, String path, Map<String, String> headers, byte[] bodyStart) throws IOException {
        Socket socket = new Socket(base.getHost(), base.getPort());
        socket.setSoTimeout(30_000);
        RawHttp raw = new RawHttp(socket);
        StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: " + base.getHost() + ":" + base.getPort() + "\r\n");
        headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
        head.append("\r\n");
        raw.out.write(head.toString().getBytes(StandardCharsets.US_ASCII));
        raw.out.write(bodyStart);
        raw.out.flush();
        return raw;
    }

    /** Opens a connection and sends {@code request} byte for byte: for requests no client library would form. */
    public static RawHttp exchange(URI base, byte[] request) throws IOException {
        Socket socket = new Socket(base.getHost(), base.getPort());
        socket.setSoTimeout(10_000);
        RawHttp raw = new RawHttp(socket);
        raw.out.write(request);
        raw.out.flush();
        return raw;
    }

    /** A response: status, the head as text, and the body its Content-Length announced. */
    public record Reply(int status, String head, byte[] body) {
        public String bodyText() { return new String(body, StandardCharsets.UTF_8); }

        public java.util.Optional<String> header(String name) {
            for (String line : head.split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).strip().equalsIgnoreCase(name)) return java.util.Optional.of(line.substring(colon + 1).strip());
            }
            return java.util.Optional.empty();
        }
    }

    /** Reads one whole response (the body by its Content-Length, or to the end of the connection without one). */
    public Reply reply() throws IOException {
        String head = responseHead();
        if (head.isEmpty()) throw new IOException("the server closed the connection without a response");
        int status = Integer.parseInt(head.substring(9, 12));
        InputStream in = socket.getInputStream();
        String length = new Reply(status, head, new byte[0]).header("Content-Length").orElse(null);
        byte[] body = length != null ? in.readNBytes(Integer.parseInt(length)) : in.readAllBytes();
        return new Reply(status, head, body);
    }

    /** True when the server closes the connection (end of stream or reset) within {@code millis}. */
    public boolean closedWithin(int millis) throws IOException {
        socket.setSoTimeout(millis);
        try {
            return socket.getInputStream().read() < 0;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (java.net.SocketException e) {
            return true; // reset
        }
    }

    public void send(byte[] more) throws IOException {
        out.write(more);
        out.flush();
    }

    /** Reads the status line and headers of the response (the body is left unread). */
    public String responseHead() throws IOException {
        InputStream in = socket.getInputStream();
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) break;
            head.append((char) b);
        }
        return head.toString();
    }

    /** Drops the connection abruptly (RST), as a crashed client or a cut network would. */
    public void cut() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    @Override
    public void close() throws IOException { socket.close(); }
}
