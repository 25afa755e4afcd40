package io.strata.audit;

import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One row of the audit log: who did (or tried) what, from where, and how it ended. Never a token
 * secret: a token appears only by id and name.
 *
 * @param tokenId   empty when no valid token was presented, or for the operator's local command
 * @param address   the client address, {@code local} for the command line
 * @param action    e.g. {@code image.publish}, {@code alias.set}, {@code request} (a refused request)
 * @param target    what was acted on: a layer digest, product and version, alias, token id, or the request line
 * @param outcome   {@code ok}, {@code failed} (refused for a reason other than credentials) or {@code denied} (401/403)
 * @param status    the HTTP status answered, 0 for local commands
 * @param reason    why it failed or was denied (an error code and the missing scope, never a secret)
 */
public record AuditEntry(long id, Instant at, OptionalLong tokenId, Optional<String> tokenName, String address,
                         String action, String target, String outcome, int status, Optional<String> reason) {}
