package io.strata.http.guard;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * A request body that must arrive at {@code minRate} bytes per second or faster, averaged over a
 * window of time spent waiting for it. Only the time blocked in {@code read} counts: when the
 * registry itself is slow (a busy disk), the client's bytes queue up, reads return at once and the
 * client is not blamed. A body below the rate, or one that stalls until the connection's idle
 * timeout, fails with an {@link IOException} and {@link #tripped()} says why; the bytes read
 * before that were all handed to the caller, so an upload session keeps them.
 */
public final class MinRateInputStream extends FilterInputStream {
    private final long minRate;
    private final long windowNanos;
    private long windowBytes;
    private long windowWaitNanos;
    private boolean tooSlow;
    private volatile boolean tripped;

    /** Thrown on the read after the rate was found too low. */
    public static final class TooSlowException extends IOException {
        TooSlowException(String message) { super(message); }
    }

    public MinRateInputStream(InputStream in, long minRate, Duration window) {
        super(in);
        this.minRate = minRate;
        this.windowNanos = window.toNanos();
    }

    /** True once the body was refused as too slow or stalled. */
    public boolean tripped() { return tripped; }

    public long minRate() { return minRate; }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        if (tooSlow) {
            tripped = true;
            throw new TooSlowException("the body arrived slower than " + minRate + " bytes per second");
        }
        long start = System.nanoTime();
        int n;
        try {
            n = super.read(buffer, offset, length);
        } catch (IOException e) {
            if (isTimeout(e)) tripped = true;
            throw e;
        }
        if (minRate <= 0 || n < 0) return n;
        windowBytes += n;
        windowWaitNanos += System.nanoTime() - start;
        if (windowWaitNanos >= windowNanos) {
            // These bytes are still delivered; the refusal comes with the next read.
            if (windowBytes * 1_000_000_000.0 / windowWaitNanos < minRate) tooSlow = true;
            windowBytes = 0;
            windowWaitNanos = 0;
        }
        return n;
    }

    private static boolean isTimeout(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof TimeoutException || t instanceof java.net.SocketTimeoutException) return true;
        }
        return false;
    }
}
