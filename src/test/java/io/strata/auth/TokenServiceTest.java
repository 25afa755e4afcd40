package io.strata.auth;

import io.strata.db.Database;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** The token service on a real SQLite database, with a clock the test moves. */
class TokenServiceTest {
    @TempDir Path dir;

    /** A clock that stands still until the test moves it. */
    static final class MovableClock extends Clock {
        Instant now = Instant.parse("2026-12-01T10:00:00Z");

        @Override public ZoneOffset getZone() { return ZoneOffset.UTC; }

        @Override public Clock withZone(java.time.ZoneId zone) { return this; }

        @Override public Instant instant() { return now; }
    }

    @Test
    void the_last_use_is_written_at_most_once_a_minute_per_token() {
        MovableClock clock = new MovableClock();
        TokenDao dao = Database.open(dir.resolve("strata.db")).dao(TokenDao.class);
        TokenService tokens = new TokenService(dao, clock);
        TokenService.Issued issued = tokens.create("busy", List.of(Scope.READ));

        tokens.authenticate(issued.secret(), "10.0.0.1");
        clock.now = clock.now.plusSeconds(30);
        tokens.authenticate(issued.secret(), "10.0.0.2");
        Token afterHalfAMinute = dao.find(issued.token().id()).orElseThrow();
        assertEquals(Instant.parse("2026-12-01T10:00:00Z"), afterHalfAMinute.lastUsedAt().orElseThrow());
        assertEquals("10.0.0.1", afterHalfAMinute.lastUsedFrom().orElseThrow());

        clock.now = clock.now.plusSeconds(31);
        tokens.authenticate(issued.secret(), "10.0.0.3");
        Token afterAMinute = dao.find(issued.token().id()).orElseThrow();
        assertEquals(Instant.parse("2026-12-01T10:01:01Z"), afterAMinute.lastUsedAt().orElseThrow());
        assertEquals("10.0.0.3", afterAMinute.lastUsedFrom().orElseThrow());
    }

    @Test
    void a_token_stops_working_at_its_expiry_and_an_admin_can_extend_it() {
        MovableClock clock = new MovableClock();
        TokenService tokens = new TokenService(Database.open(dir.resolve("strata.db")).dao(TokenDao.class), clock);
        TokenService.Issued issued = tokens.create("short", List.of(Scope.parse("push:*")),
                Optional.of(clock.now.plus(Duration.ofHours(1))), OptionalLong.empty());
        assertInstanceOf(TokenService.Authentication.Valid.class, tokens.authenticate(issued.secret(), "a"));

        clock.now = clock.now.plus(Duration.ofHours(1));
        TokenService.Authentication expired = tokens.authenticate(issued.secret(), "a");
        assertEquals(TokenService.Reason.EXPIRED, ((TokenService.Authentication.Refused) expired).reason());

        tokens.expire(issued.token().id(), tokens.expiry("30d", issued.token().scopes()));
        assertInstanceOf(TokenService.Authentication.Valid.class, tokens.authenticate(issued.secret(), "a"));
    }
}
