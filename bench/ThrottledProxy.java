import io.strata.testing.FaultyTcpProxy;

import java.net.URI;

/**
 * A loopback proxy that throttles every connection's download to BYTES_PER_SECOND (the tests'
 * FaultyTcpProxy without faults), for bench/pull-push.sh. Prints its URL, then runs until killed.
 *
 *   java -cp target/test-classes bench/ThrottledProxy.java http://127.0.0.1:PORT BYTES_PER_SECOND
 */
public class ThrottledProxy {
    public static void main(String[] args) throws Exception {
        FaultyTcpProxy proxy = new FaultyTcpProxy(URI.create(args[0]), 1, FaultyTcpProxy.Faults.NONE);
        proxy.setThrottle(Long.parseLong(args[1]));
        System.out.println(proxy.url());
        System.out.flush();
        Thread.currentThread().join();
    }
}
