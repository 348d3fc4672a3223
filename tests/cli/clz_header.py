#!/usr/bin/env python3
"""clz_header.py IN.clz OUT.clz PYTHON_EXPR — rewrites the JSON header of a .clz with a
valid container around it (offsets, sizes and CRC-32Cs recomputed, doc/format.md), so that
tests can hand climz a damaged header that only the header checks can catch. PYTHON_EXPR
is evaluated with `h` bound to the parsed header and returns the new header object."""
import json, struct, sys

def crc32c(data, crc=0):
    table = crc32c.table
    if table is None:
        table = crc32c.table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
crc32c.table = None

src, dst, expr = sys.argv[1:4]
d = bytearray(open(src, "rb").read())
psize = struct.unpack_from("<I", d, 12)[0]
hoff, hsize, ioff, isize, nchunks = struct.unpack_from("<QQQQQ", d, 32)
h = json.loads(d[hoff:hoff + hsize])
newh = json.dumps(eval(expr, {"h": h}), separators=(",", ":")).encode()
delta = len(newh) - hsize
index = bytearray(d[ioff:ioff + isize])
for k in range(nchunks):
    off = struct.unpack_from("<Q", index, 32 * k + 16)[0]
    struct.pack_into("<Q", index, 32 * k + 16, off + delta)
out = bytearray(d[:psize]) + newh + index + d[ioff + isize:]
struct.pack_into("<I", out, 20, crc32c(newh))
struct.pack_into("<Q", out, 24, len(out))
struct.pack_into("<QQQQQ", out, 32, hoff, len(newh), hoff + len(newh), isize, nchunks)
struct.pack_into("<I", out, 72, crc32c(index))
struct.pack_into("<I", out, psize - 4, crc32c(out[:psize - 4]))
open(dst, "wb").write(out)
