package io.strata.metrics;

import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.util.component.AbstractLifeCycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * Writes access-log lines from a thread of its own, so no request thread (and no I/O thread,
 * where the hot reads are answered) ever waits on the disk or a full pipe: a line is put in a
 * bounded queue, and when the queue is full it is dropped and counted
 * ({@code strata_access_log_dropped_total}) rather than waited for.
 *
 * <p>Jetty's {@code AsyncRequestLogWriter} does the same hand-off but does not fit: it cannot
 * write to standard output (without a file name it writes to standard error), it flushes after
 * every line (a {@code write(2)} per request), and after the first dropped line it logs a warning
 * for every further one, which under overload floods the server's own log. This writer takes what
 * has queued up, writes it with one {@code write(2)}, and pauses 10 ms before the next batch: a
 * busy server makes about 100 writes a second whatever its request rate, and a request thread
 * rarely has to wake the writer: under load it is writing or sleeping between batches, not waiting
 * on the queue (bench/head-telemetry.sh counts the writes).
 */
final class AsyncLineWriter extends AbstractLifeCycle implements RequestLog.Writer {
    private static final Logger LOG = LoggerFactory.getLogger(AsyncLineWriter.class);
    /** Lines held while the writer catches up: ~90 ms of a 90,000 requests/s load, ~1.5 MiB. */
    static final int CAPACITY = 8192;
    /** Pause after a batch, so lines gather into the next one instead of waking the writer per line. */
    private static final long BATCH_PAUSE_MILLIS = 10;

    private final Optional<Path> file;
    private final BlockingQueue<String> queue = new ArrayBlockingQueue<>(CAPACITY);
    private final LongAdder dropped = new LongAdder();
    private final AtomicBoolean warnedDrop = new AtomicBoolean();
    private final AtomicBoolean warnedWrite = new AtomicBoolean();
    private volatile boolean running;
    /** Only the writer thread (and doStop, after it ended) touches these. */
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream(256 * 1024);
    private OutputStream out;
    private Thread thread;

    /** @param file where to append; empty means standard output */
    AsyncLineWriter(Optional<Path> file) { this.file = file; }

    @Override
    public void write(String line) {
        if (queue.offer(line)) return;
        dropped.increment();
        if (warnedDrop.compareAndSet(false, true)) {
            LOG.warn("the access log cannot keep up with the requests; lines are dropped (counted in strata_access_log_dropped_total)");
        }
    }

    long dropped() { return dropped.sum(); }

    @Override
    protected void doStart() throws IOException {
        OutputStream stream;
        if (file.isPresent()) {
            try {
                // A FileOutputStream, not a FileChannel: interrupting the writer (doStop) must not close the file mid-write.
                stream = new FileOutputStream(file.get().toFile(), true);
            } catch (IOException e) {
                throw new IOException("cannot open the access log " + file.get() + " (--access-log): " + e, e);
            }
        } else {
            stream = System.out;
        }
        out = stream;
        running = true;
        thread = new Thread(this::run, "strata-access-log");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        List<String> batch = new ArrayList<>(CAPACITY);
        while (running) {
            try {
                String first = queue.poll(1, TimeUnit.SECONDS);
                if (first == null) continue;
                batch.add(first);
                queue.drainTo(batch);
                writeAll(batch);
                Thread.sleep(BATCH_PAUSE_MILLIS);
            } catch (InterruptedException e) {
                // doStop: the loop ends on running == false; what is still queued is written there.
            }
        }
    }

    /** The batch as one write: a Writer over the stream would hand it over in 8 KiB pieces, a write(2) each. */
    private void writeAll(List<String> batch) {
        try {
            for (String line : batch) {
                bytes.writeBytes(line.getBytes(StandardCharsets.UTF_8));
                bytes.write('\n');
            }
            bytes.writeTo(out);
            out.flush();
        } catch (IOException e) {
            if (warnedWrite.compareAndSet(false, true)) LOG.warn("could not write the access log: {}", e.toString());
        }
        batch.clear();
        bytes.reset();
    }

    @Override
    protected void doStop() throws Exception {
        running = false;
        thread.interrupt();
        thread.join(TimeUnit.SECONDS.toMillis(5));
        List<String> rest = new ArrayList<>();
        queue.drainTo(rest);
        writeAll(rest);
        if (file.isPresent()) out.close();
        else out.flush();
    }
}
