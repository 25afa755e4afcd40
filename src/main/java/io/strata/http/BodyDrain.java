package io.strata.http;

import io.javalin.http.Context;

import java.io.IOException;
import java.io.InputStream;

/**
 * After a request answered without reading its whole body (an early 4xx, a 401, a dedup 200),
 * reads and discards up to {@value #LIMIT} bytes of it. Otherwise Jetty closes the connection
 * with unread bytes in its receive buffer, the kernel answers them with a reset, and a client
 * still sending can lose the response it was meant to read. Larger leftovers are not worth
 * receiving: the connection is closed, as HTTP/1.1 allows.
 */
final class BodyDrain {
    static final int LIMIT = 4 << 20;

    private BodyDrain() {}

    private static final String SKIP = "strata.body-drain.skip";

    /** For a response that closes the connection anyway (a body too slow to wait for). */
    static void skip(Context ctx) { ctx.attribute(SKIP, Boolean.TRUE); }

    static void drain(Context ctx) {
        if (ctx.attribute(SKIP) != null) return;
        String method = ctx.method().name();
        if (!method.equals("PUT") && !method.equals("PATCH") && !method.equals("POST")) return;
        // A client that asked for 100-continue has not sent the body; reading would ask for it.
        String expect = ctx.header("Expect");
        if (expect != null && expect.equalsIgnoreCase("100-continue")) return;
        long declared = ctx.req().getContentLengthLong();
        if (declared > LIMIT) return;
        try {
            InputStream in = ctx.req().getInputStream();
            byte[] sink = new byte[16 * 1024];
            long total = 0;
            for (int n; total < LIMIT && (n = in.read(sink)) > 0; ) total += n;
        } catch (IOException | IllegalStateException e) {
            // The client is gone or the body was already consumed: nothing left to protect.
        }
    }
}
