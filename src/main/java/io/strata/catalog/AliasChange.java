package io.strata.catalog;

import java.time.Instant;

/** One entry of an alias's history: from {@code at} on, the alias named {@code product} and resolved to {@code fingerprint}. */
public record AliasChange(String alias, String product, String fingerprint, String reason, Instant at) {}
