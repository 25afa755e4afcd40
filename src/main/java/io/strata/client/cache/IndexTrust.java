package io.strata.client.cache;

import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.RegistryClient;
import io.strata.signing.Minisign;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Which key a registry's index must be signed with (DESIGN §12), and the check. The key is the one
 * given ({@code pull --key}), else the one pinned in the cache, else the registry's
 * {@code /strata.pub}, pinned on this first use (as ssh does with a host key). From then on an
 * index signed by another key, or not signed, is refused: a pull through a mirror, a proxy or
 * plain HTTP gets the catalog the registry signed, and each layer is then checked against the
 * sha256 that catalog names.
 */
public final class IndexTrust {
    private final CacheLayout cache;
    private final RefStore lockOwner;
    private final Optional<String> given;

    /** @param given a minisign public key ({@code strata.pub}'s text, or its second line) that overrides any pinned one */
    public IndexTrust(CacheLayout cache, RefStore lockOwner, Optional<String> given) {
        this.cache = cache;
        this.lockOwner = lockOwner;
        this.given = given;
    }

    /**
     * Checks {@code index} (as served, decoded) against its {@code index.json.minisig}. Empty when
     * it checks out (or the registry publishes no key, which is warned about). A signature that does
     * not match gives the refusal to throw if fetching both again does not help: a publish between
     * the two requests causes that too. Throws at once when the index cannot be the registry's.
     */
    Optional<ClientException> check(RegistryClient registry, byte[] index, Console console) throws IOException, InterruptedException {
        Optional<Candidate> found = keyFor(registry);
        if (found.isEmpty()) {
            console.warn("index: " + registry.name() + " publishes no signing key (strata.pub), so its index is not verified");
            return Optional.empty();
        }
        Candidate candidate = found.get();
        Optional<byte[]> signature = registry.small("index.json.minisig");
        if (signature.isEmpty()) {
            throw new ClientException("the index of " + registry.name() + " has no signature (index.json.minisig), but its key "
                    + candidate.key().keyIdHex() + " is " + (given.isPresent() ? "given with --key" : "pinned in " + pinned(registry))
                    + "; someone between you and the registry may have removed it: pull through another route, or ask its operator");
        }
        try {
            Minisign.verify(candidate.key(), index, new String(signature.get(), StandardCharsets.UTF_8));
        } catch (Minisign.BadSignature e) {
            ClientException refused = refused(registry, candidate, e.getMessage());
            if (e.getMessage().startsWith("the signature does not match")) return Optional.of(refused); // or a newer rendering's signature
            throw refused;
        }
        // Pinned only once it checked out: a wrong --key, or a first-use key that signs nothing, is never kept.
        if (candidate.pin()) {
            pin(pinned(registry), candidate.text());
            if (given.isEmpty()) {
                console.info("index: pinned the signing key " + candidate.key().keyIdHex() + " of " + registry.name()
                        + " (first use) in " + pinned(registry));
            }
        }
        return Optional.empty();
    }

    /**
     * True when {@code --key} names another key than the pinned one: the index copy in the cache
     * was checked with the pinned key, so it is fetched again (not revalidated) to be checked with the given one.
     */
    boolean overridesPin(RegistryClient registry) throws IOException {
        if (given.isEmpty()) return false;
        try {
            return !keyLine(Files.readString(pinned(registry), StandardCharsets.US_ASCII)).equals(keyLine(given.get()));
        } catch (NoSuchFileException e) {
            return true;
        }
    }

    private static String keyLine(String text) { return text.strip().lines().reduce((first, second) -> second).orElse("").strip(); }

    private ClientException refused(RegistryClient registry, Candidate candidate, String why) {
        return new ClientException("the index of " + registry.name() + " is not signed by " + candidate.source()
                + " (" + candidate.key().keyIdHex() + "): "
                + why + ". If the registry's operator changed its key, check the new one with them (its /strata.pub) and pass it "
                + "with --key, or delete " + pinned(registry) + " to trust the new key on the next pull; otherwise do not use this index");
    }

    /** A key to check with, its text, and whether it is to be pinned once a signature checks out with it. */
    private record Candidate(Minisign.PublicKeyFile key, String text, boolean pin, String source) {}

    private Optional<Candidate> keyFor(RegistryClient registry) throws IOException, InterruptedException {
        Path pin = pinned(registry);
        if (given.isPresent()) return Optional.of(new Candidate(read(given.get(), "--key"), given.get(), true, "the key given with --key"));
        try {
            String text = Files.readString(pin, StandardCharsets.US_ASCII);
            return Optional.of(new Candidate(read(text, pin.toString()), text, false, "the key pinned in " + pin + " on first use"));
        } catch (NoSuchFileException e) {
            // First use: below.
        }
        Optional<byte[]> published = registry.small("strata.pub");
        if (published.isEmpty()) return Optional.empty();
        String text = new String(published.get(), StandardCharsets.US_ASCII);
        return Optional.of(new Candidate(read(text, registry.name() + "strata.pub"), text, true,
                "the key its strata.pub serves (nothing is pinned for it yet)"));
    }

    private static Minisign.PublicKeyFile read(String text, String where) throws ClientException {
        try {
            return Minisign.readPublicKey(text);
        } catch (Minisign.BadSignature e) {
            throw new ClientException(where + " is not a minisign public key (" + e.getMessage() + "); give the registry's "
                    + "strata.pub file or its second line");
        }
    }

    private void pin(Path pin, String text) throws IOException, InterruptedException {
        String file = "untrusted comment: signing key of a Strata registry, pinned by strata pull\n" + keyLine(text) + "\n";
        if (Files.exists(pin) && Files.readString(pin, StandardCharsets.US_ASCII).equals(file)) return;
        Files.createDirectories(pin.getParent());
        try (FileLocks.Held lock = lockOwner.lockCache()) {
            RefStore.write(pin, file.getBytes(StandardCharsets.US_ASCII));
        }
    }

    Path pinned(RegistryClient registry) { return cache.key(registry.name()); }
}
