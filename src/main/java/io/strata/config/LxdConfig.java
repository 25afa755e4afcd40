package io.strata.config;

import java.time.Duration;

/**
 * What {@code serve} makes for the LXD and Incus clients (DESIGN §9).
 *
 * @param versions  flattened disks for the newest this many versions of each product; 0 turns LXD items off
 * @param qemuImg   the qemu-img program (a name looked up on PATH, or a path)
 * @param lease     how long a job claim lasts without renewal; a crashed server's job is taken again after it
 */
public record LxdConfig(int versions, String qemuImg, Duration lease) {
    public static final int DEFAULT_VERSIONS = 2;
    public static final Duration DEFAULT_LEASE = Duration.ofSeconds(60);

    public LxdConfig {
        if (versions < 0) throw new IllegalArgumentException("--lxd-versions must be 0 or more, got " + versions);
    }

    /** What {@code serve} does unless told otherwise. */
    public static LxdConfig defaults() { return new LxdConfig(DEFAULT_VERSIONS, "qemu-img", DEFAULT_LEASE); }

    /** No LXD items (offline commands, and tests that do not look at them). */
    public static LxdConfig off() { return new LxdConfig(0, "qemu-img", DEFAULT_LEASE); }

    public boolean enabled() { return versions > 0; }

    public LxdConfig withVersions(int n) { return new LxdConfig(n, qemuImg, lease); }

    public LxdConfig withQemuImg(String program) { return new LxdConfig(versions, program, lease); }

    public LxdConfig withLease(Duration duration) { return new LxdConfig(versions, qemuImg, duration); }
}
