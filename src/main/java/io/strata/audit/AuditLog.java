package io.strata.audit;

import io.strata.auth.Token;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;

/**
 * The append-only record of every write and every refused attempt (issue 10). Writing a row never
 * fails the request it describes: a failure is logged and the request goes on.
 */
public final class AuditLog {
    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    public static final int MAX_PAGE = 1000;
    private static final int MAX_TEXT = 512;

    private final AuditDao dao;
    private final Clock clock;

    public AuditLog(AuditDao dao, Clock clock) {
        this.dao = dao;
        this.clock = clock;
    }

    /** What happened; {@code token} empty when none was valid. */
    public record Event(Optional<Token> token, String address, String action, String target, String outcome, int status, String reason) {}

    public void record(Event event) {
        Instant now = clock.instant().truncatedTo(ChronoUnit.MILLIS);
        Long tokenId = event.token().map(Token::id).orElse(null);
        String tokenName = event.token().map(Token::name).orElse(null);
        // Two replicas on one PostgreSQL may pick the same next id: the loser retries with a new one.
        for (int attempt = 1; ; attempt++) {
            try {
                dao.insert(now.toString(), tokenId, tokenName, cut(event.address()), event.action(), cut(event.target()),
                        event.outcome(), event.status(), event.reason() == null ? null : cut(event.reason()));
                return;
            } catch (UnableToExecuteStatementException e) {
                if (attempt < 3) continue;
                LOG.error("could not write the audit row for {} {} ({})", event.action(), event.target(), event.outcome(), e);
                return;
            }
        }
    }

    /** Newest first; {@code before} is the cursor from the previous page (the last id it held), or empty for the newest. */
    public List<AuditEntry> page(Optional<Long> before, int limit) {
        return dao.page(before.orElse(Long.MAX_VALUE), Math.max(1, Math.min(MAX_PAGE, limit)));
    }

    private static String cut(String text) {
        if (text == null) return "";
        return text.length() <= MAX_TEXT ? text : text.substring(0, MAX_TEXT) + "…";
    }
}
