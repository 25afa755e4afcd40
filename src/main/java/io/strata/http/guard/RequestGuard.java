package io.strata.http.guard;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.http.ErrorBody;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * The outermost handler: refuses ambiguous paths and write floods before any route (the fast
 * reads included) sees the request. Refusals close the connection, so an unread body of a
 * hostile or throttled client is never received.
 */
final class RequestGuard extends Handler.Wrapper {
    private static final Set<String> WRITES = Set.of("POST", "PUT", "PATCH", "DELETE");

    private final WriteLimiter writes;

    RequestGuard(WriteLimiter writes) { this.writes = writes; }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        Optional<String> problem = UriCheck.problem(request.getHttpURI());
        if (problem.isPresent()) {
            refuse(request, response, callback, new ApiException(ErrorCode.URI_INVALID, problem.get() + "; send the plain path"));
            return true;
        }
        if (WRITES.contains(request.getMethod())) {
            InetAddress client = address(request);
            OptionalLong wait = client == null ? OptionalLong.empty() : writes.acquire(client);
            if (wait.isPresent()) {
                response.getHeaders().put(HttpHeader.RETRY_AFTER, wait.getAsLong());
                refuse(request, response, callback, new ApiException(ErrorCode.RATE_LIMITED,
                        "too many write requests from this address; retry in " + wait.getAsLong() + " s",
                        Map.of("retry_after", wait.getAsLong())));
                return true;
            }
        }
        return super.handle(request, response, callback);
    }

    private static void refuse(Request request, Response response, Callback callback, ApiException e) {
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        ErrorBody.write(response, callback, e, HttpMethod.HEAD.is(request.getMethod()));
    }

    private static InetAddress address(Request request) {
        SocketAddress remote = request.getConnectionMetaData().getRemoteSocketAddress();
        return remote instanceof InetSocketAddress inet ? inet.getAddress() : null;
    }
}
