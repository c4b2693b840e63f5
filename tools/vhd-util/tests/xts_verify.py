#!/usr/bin/env python3
"""Checks an encrypted `vhd-util copy` independently of vhd-rs.

usage: xts_verify.py SRC DST KEYFILE

Both images are parsed here from the VHD layout (footer, dynamic header, BAT, sector
bitmaps) and DST's sectors are decrypted with the `cryptography` package's AES-XTS
(OpenSSL), using blktap3's tweak: the virtual sector number's low 32 bits,
little-endian, then zeros. For every block SRC allocates, DST must allocate it too and
hold, for each sector SRC's bitmap marks, SRC's data encrypted; for each other sector,
zeros in the clear. DST must allocate no other block. Prints the counts and the
SHA-256 of a zero nonce and the key (the key hash DST should carry); exits 1 on the
first mismatch.
"""

import hashlib
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512
UNUSED = 0xFFFFFFFF


class Vhd:
    """A dynamic VHD read straight from its bytes."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.f.seek(-SECTOR, 2)
        footer = self.f.read(SECTOR)
        if footer[:8] != b"conectix":
            sys.exit(f"{path}: no footer at the end")
        (data_offset,) = struct.unpack(">Q", footer[16:24])
        (self.size,) = struct.unpack(">Q", footer[48:56])
        (disk_type,) = struct.unpack(">I", footer[60:64])
        if disk_type != 3:
            sys.exit(f"{path}: disk type {disk_type}, not dynamic")
        header = self.read(data_offset, 1024)
        if header[:8] != b"cxsparse":
            sys.exit(f"{path}: no dynamic header")
        (table,) = struct.unpack(">Q", header[16:24])
        entries, block_size = struct.unpack(">II", header[28:36])
        self.spb = block_size // SECTOR
        self.bm_bytes = max(1, ((self.spb + 7) // 8 + SECTOR - 1) // SECTOR) * SECTOR
        self.bat = struct.unpack(f">{entries}I", self.read(table, 4 * entries))

    def read(self, offset, n):
        self.f.seek(offset)
        b = self.f.read(n)
        if len(b) != n:
            sys.exit(f"short read at {offset}")
        return b

    def blocks(self):
        """Allocated blocks within the virtual size."""
        covered = -(-self.size // (self.spb * SECTOR))
        return {b for b in range(covered) if self.bat[b] != UNUSED}

    def block(self, b):
        """(bitmap, data) of allocated block b."""
        at = self.bat[b] * SECTOR
        return self.read(at, self.bm_bytes), self.read(at + self.bm_bytes, self.spb * SECTOR)


def marked(bitmap, i):
    return bitmap[i // 8] & (0x80 >> (i % 8)) != 0


def decrypt(key, sector, data):
    tweak = (sector & 0xFFFFFFFF).to_bytes(4, "little") + bytes(12)
    d = Cipher(algorithms.AES(key), modes.XTS(tweak)).decryptor()
    return d.update(data) + d.finalize()


def main():
    src, dst = Vhd(sys.argv[1]), Vhd(sys.argv[2])
    with open(sys.argv[3], "rb") as f:
        key = f.read()
    if dst.size != src.size or dst.spb != src.spb:
        sys.exit("DST's size or block size differs from SRC's")
    if src.blocks() != dst.blocks():
        sys.exit(f"allocated blocks differ: {sorted(src.blocks() ^ dst.blocks())[:10]}")
    total = src.size // SECTOR
    encrypted = plain = 0
    for b in sorted(src.blocks()):
        sbm, sdata = src.block(b)
        dbm, ddata = dst.block(b)
        for i in range(min(src.spb, total - b * src.spb)):
            sector = b * src.spb + i
            s = sdata[i * SECTOR:(i + 1) * SECTOR]
            d = ddata[i * SECTOR:(i + 1) * SECTOR]
            if not marked(dbm, i):
                sys.exit(f"sector {sector}: not marked in DST's bitmap")
            if marked(sbm, i):
                if d == s or decrypt(key, sector, d) != s:
                    sys.exit(f"sector {sector}: not SRC's data encrypted")
                encrypted += 1
            else:
                if d != bytes(SECTOR):
                    sys.exit(f"sector {sector}: SRC holds none, DST not zeros in the clear")
                plain += 1
    keyhash = hashlib.sha256(bytes(32) + key).hexdigest()
    print(f"blocks={len(src.blocks())} encrypted={encrypted} plain={plain} keyhash={keyhash}")


if __name__ == "__main__":
    main()
