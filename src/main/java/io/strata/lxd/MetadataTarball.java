package io.strata.lxd;

import io.strata.catalog.Image;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZ;
import org.tukaani.xz.XZOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code lxd.tar.xz}: a tar holding only {@code metadata.yaml}, the form LXD's image metadata
 * takes (architecture in LXD's naming, creation and expiry dates, properties, no templates).
 * Every input is a fixed field of the published image and every output byte is fixed by this
 * class (tar header, xz preset and check), so one image always yields the same bytes, hence the
 * same sha256 and the same LXD fingerprint on every server run and JVM.
 */
public final class MetadataTarball {
    /** xz's default preset; changing it (or the dictionary) changes every image's LXD fingerprint. */
    private static final int XZ_PRESET = 6;
    /**
     * The tarball is one 10 KiB record, so a 64 KiB dictionary loses nothing, and the encoder needs a
     * few MiB instead of the preset's ~94 MiB (which a small heap, e.g. -Xmx64m, does not have).
     */
    private static final int XZ_DICT_BYTES = 64 << 10;

    private MetadataTarball() {}

    public static byte[] of(Image image) {
        long created = image.createdAt().getEpochSecond();
        byte[] yaml = metadataYaml(image).getBytes(StandardCharsets.UTF_8);
        byte[] tar = new Ustar(created).file("metadata.yaml", yaml).finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
        LZMA2Options options;
        try {
            options = new LZMA2Options(XZ_PRESET);
            options.setDictSize(XZ_DICT_BYTES);
        } catch (org.tukaani.xz.UnsupportedOptionsException e) {
            throw new IllegalStateException(e);
        }
        try (XZOutputStream xz = new XZOutputStream(out, options, XZ.CHECK_CRC64)) {
            xz.write(tar);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The YAML text, keys in a fixed order, every property a double-quoted string. */
    static String metadataYaml(Image image) {
        Map<String, String> properties = new TreeMap<>();
        properties.put("architecture", image.product().arch());
        properties.put("description", description(image));
        properties.put("os", image.product().os());
        properties.put("release", image.product().release());
        properties.put("serial", image.version());
        properties.put("variant", image.product().variant());
        StringBuilder yaml = new StringBuilder();
        yaml.append("architecture: ").append(quoted(LxdArchitecture.of(image.product().arch()))).append('\n');
        yaml.append("creation_date: ").append(image.createdAt().getEpochSecond()).append('\n');
        yaml.append("expiry_date: 0\n");
        yaml.append("properties:\n");
        for (Map.Entry<String, String> property : properties.entrySet()) {
            yaml.append("  ").append(property.getKey()).append(": ").append(quoted(property.getValue())).append('\n');
        }
        yaml.append("templates: {}\n");
        return yaml.toString();
    }

    static String description(Image image) {
        if (!image.description().isBlank()) return image.description();
        String title = image.releaseTitle().isBlank() ? image.product().os() + " " + image.product().release() : image.releaseTitle();
        return title + " " + image.product().arch() + " (" + image.version() + ")";
    }

    /** A YAML double-quoted scalar: backslash, quote and control characters escaped, everything else literal UTF-8. */
    static String quoted(String value) {
        StringBuilder out = new StringBuilder(value.length() + 2).append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                case '\r' -> out.append("\\r");
                default -> {
                    if (c < 0x20 || c == 0x7f) out.append(String.format("\\x%02x", (int) c));
                    else out.append(c);
                }
            }
        }
        return out.append('"').toString();
    }
}
