#!/usr/bin/env bash
# Makes the hostile qcow2 corpus of this directory: one small file per inspector check that
# qemu's own tables and limits motivate (README "Format inspector"), each a real qemu-img image
# with at most a few bytes patched, and cases.tsv naming the check each file must fail.
# Re-run after changing it: bash src/test/resources/qcow2-hostile/make-corpus.sh
# Needs qemu-img and qemu-io (apt-get install qemu-utils), dd, printf, truncate.
# Offsets are those of qemu's docs/interop/qcow2.txt; the images use 512-byte clusters and a
# 1 MiB disk, so each file is a few KiB:
#   0x000 header (l1_size at 36, l1_table_offset 40, refcount_table_offset 48,
#         refcount_table_clusters 56, nb_snapshots 60, refcount_order 96, extensions from 112)
#   0x200 refcount table, 0x400 refcount block, 0x600 L1 table (32 entries)
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.qcow2 cases.tsv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

base() { qemu-img create -q -f qcow2 -o cluster_size=512 "$1" 1M; }
# patch FILE OFFSET HEX: overwrites bytes in place, e.g. patch f.qcow2 36 00400001
patch() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# case FILE CHECK ENCRYPTION DESCRIPTION: records what the file must fail
case_() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> cases.tsv; }

printf 'file\tcheck\tencryption\tdescription\n' > cases.tsv

base l1-size-over-32mib.qcow2
patch l1-size-over-32mib.qcow2 36 00400001
case_ l1-size-over-32mib.qcow2 l1_table_size refused "l1_size 4194305: an L1 table of 32 MiB + 8 bytes"

base l1-too-small.qcow2
patch l1-too-small.qcow2 36 0000001f
case_ l1-too-small.qcow2 l1_table_too_small refused "l1_size 31 for a 1 MiB disk that needs 32 entries"

base l1-unaligned.qcow2
patch l1-unaligned.qcow2 40 0000000000000608
case_ l1-unaligned.qcow2 l1_table_offset refused "L1 table at 0x608, not on a cluster boundary"

base l1-past-end.qcow2
patch l1-past-end.qcow2 40 0000000000100000
case_ l1-past-end.qcow2 l1_table_offset refused "L1 table at 1 MiB, past the end of the file"

base l1-cut-off.qcow2
truncate -s 1600 l1-cut-off.qcow2
case_ l1-cut-off.qcow2 l1_table_offset refused "file cut inside its L1 table"

base l1-entry-past-end.qcow2
patch l1-entry-past-end.qcow2 $((0x600)) 8000000000100000
case_ l1-entry-past-end.qcow2 l1_entry refused "L1 entry 0 points at an L2 table 1 MiB in, past the end of the file"

base l1-entry-reserved-bits.qcow2
patch l1-entry-reserved-bits.qcow2 $((0x600)) 0100000000000400
case_ l1-entry-reserved-bits.qcow2 l1_entry refused "L1 entry 0 sets reserved bit 56"

# Guest data written, then the file cut short after its L2 table: the data clusters are gone.
base l2-data-past-end.qcow2
qemu-io -f qcow2 -c "write -P 90 0 4k" l2-data-past-end.qcow2 > /dev/null
truncate -s $((0xc00)) l2-data-past-end.qcow2
case_ l2-data-past-end.qcow2 l2_entry refused "file cut after its L2 table: guest data clusters past the end"

base refcount-entry-past-end.qcow2
patch refcount-entry-past-end.qcow2 $((0x200)) 0000000000100000
case_ refcount-entry-past-end.qcow2 refcount_table_entry refused "refcount table entry 0 points 1 MiB in, past the end of the file"

base refcount-entry-into-l1.qcow2
patch refcount-entry-into-l1.qcow2 $((0x200)) 0000000000000600
case_ refcount-entry-into-l1.qcow2 refcount_table_entry refused "refcount table entry 0 points its refcount block into the L1 table"

base refcount-table-empty.qcow2
patch refcount-table-empty.qcow2 56 00000000
case_ refcount-table-empty.qcow2 refcount_table_size refused "refcount_table_clusters 0"

base refcount-table-over-8mib.qcow2
patch refcount-table-over-8mib.qcow2 56 00004001
case_ refcount-table-over-8mib.qcow2 refcount_table_size refused "16385 clusters of 512 bytes: more than 8 MiB"

base refcount-table-unaligned.qcow2
patch refcount-table-unaligned.qcow2 48 0000000000000210
case_ refcount-table-unaligned.qcow2 refcount_table_offset refused "refcount table at 0x210"

base refcount-table-past-end.qcow2
patch refcount-table-past-end.qcow2 48 0000000000100000
case_ refcount-table-past-end.qcow2 refcount_table_offset refused "refcount table at 1 MiB, past the end of the file"

base refcount-order-7.qcow2
patch refcount-order-7.qcow2 96 00000007
case_ refcount-order-7.qcow2 refcount_order refused "refcount_order 7: 128-bit refcounts"

base snapshot.qcow2
qemu-img snapshot -c before-update snapshot.qcow2
case_ snapshot.qcow2 snapshots refused "an internal snapshot made by qemu-img snapshot -c"

base unknown-extension.qcow2
patch unknown-extension.qcow2 112 5354524b000000080123456789abcdef
case_ unknown-extension.qcow2 unknown_header_extension refused "header extension 0x5354524b"

base feature-table-odd-length.qcow2
patch feature-table-odd-length.qcow2 112 6803f85700000010000064697274792062697400000000
case_ feature-table-odd-length.qcow2 header_extension refused "a feature name table of 16 bytes, not whole 48-byte entries"

base backing-format-too-long.qcow2
patch backing-format-too-long.qcow2 112 e2792aca00000010$(printf 'qcow2qcow2qcow2q' | od -An -tx1 | tr -d ' \n')
case_ backing-format-too-long.qcow2 header_extension refused "a 16-byte backing format, more than qemu reads"

bitmapped() { base "$1"; qemu-img bitmap --add "$1" changes; } # extension at 112: count 120, size 128, offset 136
bitmapped bitmaps-too-many.qcow2
patch bitmaps-too-many.qcow2 120 00010000
case_ bitmaps-too-many.qcow2 bitmaps_extension refused "65536 bitmaps, more than qemu's 65535"

bitmapped bitmaps-none.qcow2
patch bitmaps-none.qcow2 120 00000000
case_ bitmaps-none.qcow2 bitmaps_extension refused "a bitmaps extension with 0 bitmaps"

bitmapped bitmaps-directory-over-64mib.qcow2
patch bitmaps-directory-over-64mib.qcow2 128 0000000003fffc01
case_ bitmaps-directory-over-64mib.qcow2 bitmaps_extension refused "a bitmap directory of 1024 * 65535 + 1 bytes"

bitmapped bitmaps-directory-past-end.qcow2
patch bitmaps-directory-past-end.qcow2 136 0000000000100000
case_ bitmaps-directory-past-end.qcow2 bitmaps_extension refused "the bitmap directory at 1 MiB, past the end of the file"

bitmapped bitmaps-directory-unaligned.qcow2
patch bitmaps-directory-unaligned.qcow2 136 0000000000000a08
case_ bitmaps-directory-unaligned.qcow2 bitmaps_extension refused "the bitmap directory at 0xa08"

bitmapped bitmaps-directory-on-l1.qcow2
patch bitmaps-directory-on-l1.qcow2 136 0000000000000600
case_ bitmaps-directory-on-l1.qcow2 table_overlap refused "the bitmap directory in the L1 table's cluster"

# The directory entry at 0xa00: table offset, table size 0xa08, flags 0xa0c, type 0xa10, granularity 0xa11.
bitmapped bitmap-unknown-type.qcow2
patch bitmap-unknown-type.qcow2 $((0xa10)) 02
case_ bitmap-unknown-type.qcow2 bitmap_directory refused "a bitmap of type 2, which qemu does not know"

bitmapped bitmap-in-use.qcow2
patch bitmap-in-use.qcow2 $((0xa0c)) 00000001
case_ bitmap-in-use.qcow2 bitmap_directory refused "a bitmap marked in use: the image was not closed cleanly"

base virtual-size-odd.qcow2
patch virtual-size-odd.qcow2 24 0000000000100001
case_ virtual-size-odd.qcow2 virtual_size refused "a virtual size of 1 MiB + 1 byte, not whole 512-byte sectors"

# A LUKS header is 2 MiB; a small image with crypt_method 2 and a full disk encryption extension
# pointing past its end fails the same check without one. Judged with encryption allowed.
base crypt-header-past-end.qcow2
patch crypt-header-past-end.qcow2 32 00000002
patch crypt-header-past-end.qcow2 112 0537be77000000100000000000100000000000000000f000
case_ crypt-header-past-end.qcow2 crypt_header allowed "an encryption header at 1 MiB, past the end of the file"

base crypt-header-unaligned.qcow2
patch crypt-header-unaligned.qcow2 32 00000002
patch crypt-header-unaligned.qcow2 112 0537be770000001000000000000008080000000000000100
case_ crypt-header-unaligned.qcow2 crypt_header allowed "an encryption header at 0x808"

base l1-on-refcount-table.qcow2
patch l1-on-refcount-table.qcow2 40 0000000000000200
case_ l1-on-refcount-table.qcow2 table_overlap refused "the L1 table in the refcount table's cluster"

base refcount-table-on-header.qcow2
patch refcount-table-on-header.qcow2 48 0000000000000000
case_ refcount-table-on-header.qcow2 table_overlap refused "the refcount table in the header cluster"

base mbr-signature.qcow2
patch mbr-signature.qcow2 510 55aa
case_ mbr-signature.qcow2 other_format_mbr refused "0x55aa at 510: also an MBR disk"

base gpt-signature.qcow2
patch gpt-signature.qcow2 512 4546492050415254
case_ gpt-signature.qcow2 other_format_gpt refused "'EFI PART' at 512: also a GPT disk"

# Guest data that lands on the ISO 9660 descriptor: with 512-byte clusters host 0x8001 is data.
base iso9660-signature.qcow2
qemu-io -f qcow2 -c "write -P 0 0 40k" iso9660-signature.qcow2 > /dev/null
patch iso9660-signature.qcow2 $((0x8001)) 4344303031
case_ iso9660-signature.qcow2 other_format_iso9660 refused "'CD001' at 0x8001: also an ISO 9660 image"

base vhd-footer.qcow2
{ printf 'conectix'; head -c 504 /dev/zero; } >> vhd-footer.qcow2
case_ vhd-footer.qcow2 other_format_vhd refused "a VHD footer appended: also a fixed VHD disk"

du -cb ./*.qcow2 | tail -1
