package io.strata.client.push;

import io.strata.client.Backoff;
import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.RegistryClient;
import io.strata.client.RegistryException;

import java.io.IOException;

/**
 * Small requests (a HEAD, a publish, an image lookup) retried like the transfers: connection
 * failures and 5xx answers are tried again with backoff, other answers are final.
 */
final class Retry {
    /** A request that may fail. */
    interface Call<T> {
        T run() throws IOException, InterruptedException;
    }

    private Retry() {}

    static <T> T call(String what, int maxAttempts, Backoff backoff, Console console, Call<T> call)
            throws IOException, InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                return call.run();
            } catch (RegistryException e) {
                if (!e.isTransient() || attempt >= maxAttempts) throw e;
                console.info(what + ": " + e.getMessage() + "; trying again (" + attempt + "/" + maxAttempts + ")");
            } catch (ClientException e) {
                throw e;
            } catch (IOException e) {
                if (attempt >= maxAttempts) {
                    throw new ClientException(what + ": " + RegistryClient.describe(e) + " (after " + maxAttempts
                            + " attempts); check the registry is reachable and try again", e);
                }
                console.info(what + ": " + RegistryClient.describe(e) + "; trying again (" + attempt + "/" + maxAttempts + ")");
            }
            backoff.sleep(attempt);
        }
    }
}
