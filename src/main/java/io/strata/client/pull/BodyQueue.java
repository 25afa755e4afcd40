package io.strata.client.pull;

import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodySubscriber;
import java.net.http.HttpResponse.ResponseInfo;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A response body handed from the HTTP client's threads to a downloader thread. The client's
 * threads only queue buffers; the downloader writes them, so the socket is read while the disk
 * is written, and stopping a transfer needs no coordination with a writer. Demand runs ahead of
 * the writer up to {@link #HIGH_WATER} queued bytes; past that the client stops reading and TCP
 * slows the sender.
 *
 * <p>{@link java.net.http.HttpClient} has no read timeout for bodies (its request timeout ends with the
 * headers), so {@link #idleNanos()} lets the downloader notice a stalled connection and cancel it.
 */
final class BodyQueue {
    static final Object END = new Object();
    private static final long HIGH_WATER = 8L << 20;

    private final CompletableFuture<ResponseInfo> head = new CompletableFuture<>();
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private Flow.Subscription subscription;
    private long queued;
    private boolean starved;
    private boolean cancelled;
    private volatile long lastActivity = System.nanoTime();

    /** The body handler: 200 and 206 bodies are queued, others discarded. */
    BodySubscriber<Void> subscriberFor(ResponseInfo info) {
        lastActivity = System.nanoTime();
        head.complete(info);
        int status = info.statusCode();
        if (status != 200 && status != 206) return HttpResponse.BodySubscribers.discarding();
        return new BodySubscriber<>() {
            private final CompletableFuture<Void> done = new CompletableFuture<>();

            @Override public CompletionStage<Void> getBody() { return done; }

            @Override public void onSubscribe(Flow.Subscription s) {
                synchronized (BodyQueue.this) {
                    subscription = s;
                    if (cancelled) {
                        s.cancel();
                        return;
                    }
                }
                s.request(1);
            }

            @Override public void onNext(List<ByteBuffer> buffers) {
                long length = 0;
                for (ByteBuffer buffer : buffers) length += buffer.remaining();
                boolean more;
                synchronized (BodyQueue.this) {
                    if (cancelled) return;
                    queue.add(buffers);
                    queued += length;
                    more = queued < HIGH_WATER;
                    starved = !more;
                }
                lastActivity = System.nanoTime();
                if (more) subscription.request(1);
            }

            @Override public void onError(Throwable error) {
                queue.add(error);
                done.completeExceptionally(error);
            }

            @Override public void onComplete() {
                queue.add(END);
                done.complete(null);
            }
        };
    }

    /** Waits for the status line and headers, or for the request to fail first. */
    ResponseInfo awaitHead(CompletableFuture<?> response, Duration timeout)
            throws ExecutionException, TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos() + Duration.ofSeconds(1).toNanos();
        while (true) {
            try {
                return head.get(100, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                if (response.isCompletedExceptionally()) response.get(); // throws the cause
                if (System.nanoTime() > deadline) throw e;
            }
        }
    }

    /** The next list of buffers, {@link #END}, a Throwable, or null after a short wait with nothing. */
    Object poll() throws InterruptedException { return queue.poll(100, TimeUnit.MILLISECONDS); }

    long idleNanos() { return System.nanoTime() - lastActivity; }

    /** The writer took {@code length} bytes off the queue: ask for more if the client was held back. */
    void consumed(long length) {
        Flow.Subscription resume = null;
        synchronized (this) {
            queued -= length;
            if (starved && queued < HIGH_WATER / 2 && !cancelled) {
                starved = false;
                resume = subscription;
            }
        }
        if (resume != null) resume.request(1);
    }

    /** Stops the transfer (idempotent); the HTTP client closes the connection. */
    void cancel() {
        Flow.Subscription s;
        synchronized (this) {
            if (cancelled) return;
            cancelled = true;
            s = subscription;
        }
        if (s != null) s.cancel();
    }
}
