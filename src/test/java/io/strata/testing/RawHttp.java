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
