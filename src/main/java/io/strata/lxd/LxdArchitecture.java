package io.strata.lxd;

import java.util.Map;

/** Debian's architecture names (Strata's {@code arch}) to the kernel names LXD's metadata.yaml uses. */
public final class LxdArchitecture {
    private static final Map<String, String> NAMES = Map.of(
            "amd64", "x86_64",
            "arm64", "aarch64",
            "i386", "i686",
            "armhf", "armv7l",
            "ppc64el", "ppc64le",
            "s390x", "s390x",
            "riscv64", "riscv64");

    private LxdArchitecture() {}

    /** LXD's name for {@code arch}; a name LXD already uses (x86_64, aarch64, ...) or an unknown one is kept as it is. */
    public static String of(String arch) { return NAMES.getOrDefault(arch, arch); }
}
