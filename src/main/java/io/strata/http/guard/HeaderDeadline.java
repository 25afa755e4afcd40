package io.strata.http.guard;

import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.thread.Scheduler;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Closes HTTP/1 connections whose request head (request line and headers) has been arriving for
 * longer than the header timeout. The idle timeout alone does not stop Slowloris: each trickled
 * byte is traffic and restarts it. Each connection is looked at a few times per timeout, on
 * Jetty's scheduler; no thread is held by a slow client.
 */
final class HeaderDeadline implements Connection.Listener {
    private final Scheduler scheduler;
    private final long timeoutNanos;
    private final long tickNanos;

    HeaderDeadline(Scheduler scheduler, Duration timeout) {
        this.scheduler = scheduler;
        this.timeoutNanos = timeout.toNanos();
        this.tickNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(50), timeoutNanos / 4);
    }

    @Override
    public void onOpened(Connection connection) {
        if (connection instanceof HttpConnection http) new Watch(http).schedule();
    }

    /** The state of one connection's current request head, read from the scheduler thread. */
    private final class Watch implements Runnable {
        private final HttpConnection connection;
        private long headSince;
        private long messagesSeen = -1;

        Watch(HttpConnection connection) { this.connection = connection; }

        void schedule() { scheduler.schedule(this, tickNanos, TimeUnit.NANOSECONDS); }

        @Override
        public void run() {
            if (!connection.getEndPoint().isOpen()) return;
            // The parser's state is read without its lock: a stale value only delays the decision by a tick.
            HttpParser parser = connection.getParser();
            long now = System.nanoTime();
            long messages = connection.getMessagesIn();
            if (parser.inHeaderState() && !parser.isStart()) {
                if (messages != messagesSeen || headSince == 0) {
                    messagesSeen = messages;
                    headSince = now;
                } else if (now - headSince >= timeoutNanos) {
                    connection.getEndPoint().close();
                    return;
                }
            } else {
                headSince = 0;
            }
            schedule();
        }
    }
}
