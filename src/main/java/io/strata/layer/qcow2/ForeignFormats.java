package io.strata.layer.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Refuses a qcow2 file that another format's detector would also claim. Tools that probe formats
 * in a different order than qemu (bootloaders, partitioners, ISO mounters, Hyper-V and Azure
 * tooling, OpenStack's image inspector) would read such a file as that format, so one upload
 * could mean two different disks. qemu itself never writes any of these signatures: the header
 * cluster after the extensions and the backing name is zero, table entries cannot spell them
 * (their reserved bits would be set), and a canonical backing name is ASCII.
 *
 * <p>The one place guest data can reach is the ISO 9660 descriptor offsets (32 KiB into the
 * file) when clusters are smaller than 32 KiB; such a layer is refused too, and converting it
 * with 64 KiB clusters puts those offsets inside the (zero) header cluster.
 */
final class ForeignFormats {
    /** How many bytes at the end of a file {@link #checkTail} needs: a VHD footer is 512 bytes. */
    static final int TAIL_BYTES = 512;

    private static final int MBR_SIGNATURE_OFFSET = 510;
    private static final int GPT_HEADER_OFFSET = 512;
    private static final byte[] GPT_SIGNATURE = ascii("EFI PART");
    /** The first three volume descriptors of ISO 9660 (sectors 16 to 18) carry "CD001" after a type byte. */
    private static final int[] ISO9660_SIGNATURE_OFFSETS = {0x8001, 0x8801, 0x9001};
    private static final byte[] ISO9660_SIGNATURE = ascii("CD001");
    private static final byte[] VHD_COOKIE = ascii("conectix");
    private static final String CONVERT_ADVICE = "write a fresh copy with 'qemu-img convert -O qcow2 -o"
            + " cluster_size=64k layer.qcow2 fixed.qcow2' and upload that";

    private ForeignFormats() {}

    /** Checks the start of the file ({@code head}, the whole first cluster at least). */
    static void checkHead(ByteBuffer head) throws Qcow2Exception {
        if (head.limit() >= MBR_SIGNATURE_OFFSET + 2 && head.get(MBR_SIGNATURE_OFFSET) == 0x55
                && head.get(MBR_SIGNATURE_OFFSET + 1) == (byte) 0xaa) {
            throw new Qcow2Exception(Check.OTHER_FORMAT_MBR, "bytes 510-511 hold the boot signature 0x55aa, so the"
                    + " file also reads as an MBR-partitioned disk; qemu never writes it there: " + CONVERT_ADVICE);
        }
        if (at(head, GPT_HEADER_OFFSET, GPT_SIGNATURE)) {
            throw new Qcow2Exception(Check.OTHER_FORMAT_GPT, "offset 512 holds 'EFI PART', so the file also reads as a"
                    + " GPT-partitioned disk; qemu never writes it there: " + CONVERT_ADVICE);
        }
        for (int offset : ISO9660_SIGNATURE_OFFSETS) {
            if (at(head, offset, ISO9660_SIGNATURE)) {
                throw new Qcow2Exception(Check.OTHER_FORMAT_ISO9660, "offset 0x" + Integer.toHexString(offset)
                        + " holds 'CD001', so the file also reads as an ISO 9660 image; " + CONVERT_ADVICE);
            }
        }
    }

    /** Checks the last {@link #TAIL_BYTES} of the file (fewer when the file is shorter). */
    static void checkTail(ByteBuffer tail) throws Qcow2Exception {
        // A VHD footer is the last 512 bytes; disks made before Virtual PC 2004 end in a 511-byte one.
        if (tail.limit() == TAIL_BYTES && (at(tail, 0, VHD_COOKIE) || at(tail, 1, VHD_COOKIE))) {
            throw new Qcow2Exception(Check.OTHER_FORMAT_VHD, "the file ends in a VHD footer ('conectix'), so it also"
                    + " reads as a fixed VHD disk; " + CONVERT_ADVICE);
        }
    }

    private static boolean at(ByteBuffer bytes, int offset, byte[] signature) {
        if (bytes.limit() < offset + signature.length) return false;
        for (int index = 0; index < signature.length; index++) {
            if (bytes.get(offset + index) != signature[index]) return false;
        }
        return true;
    }

    private static byte[] ascii(String text) { return text.getBytes(StandardCharsets.US_ASCII); }
}
