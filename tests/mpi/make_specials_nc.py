#!/usr/bin/env python3
"""make_specials_nc.py OUT — a NetCDF-3 file whose missing values differ from step to step, for
the MPI tests: each rank scans only its steps, so the specials (and the mask chunks of every
step) must come out as one process finds them. t(time=6, lat=32, lon=1024): 32768 points a step,
so the residual codec codes blocks of 2 steps and two ranks split the steps. _FillValue 1e20 at
scattered points of every step; NaN payloads first met in step 1 (0x7fc00003) and in step 5
(0x7fc00001, 0x7fc00002: a later rank's steps; one process lists 3, 1, 2); values over
valid_max in step 4. Written by hand (CDF-1 is simple) so the NaN bits are exact."""
import math
import struct
import sys

NT, NY, NX = 6, 32, 1024
FILL = struct.unpack(">I", struct.pack(">f", 1e20))[0]


def name(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b + b"\0" * (-len(b) % 4)


def att_float(n, vals):
    return name(n) + struct.pack(">ii", 5, len(vals)) + b"".join(struct.pack(">f", v) for v in vals)


def bits(t, y, x):
    """the stored bits of point (t, y, x)"""
    k = (t * NY + y) * NX + x
    if k % 97 == 5:
        return FILL
    if t == 1 and k % 1001 == 7:
        return 0x7FC00003
    if t == 5 and k % 1301 == 11:
        return 0x7FC00001 if k % 2 else 0x7FC00002
    v = 250.0 + 30.0 * math.sin(y / 5.0 + t) * math.cos(x / 40.0) + 0.01 * ((k * 7919) % 101)
    if t == 4 and k % 2003 == 13:
        v = 500.0 + (k % 3)  # over valid_max: missing by CF, three distinct values
    return struct.unpack(">I", struct.pack(">f", v))[0]


def main(out):
    dims = [("time", NT), ("lat", NY), ("lon", NX)]
    lat = [-77.5 + 5.0 * y for y in range(NY)]
    lon = [360.0 * x / NX for x in range(NX)]
    time = [float(t) for t in range(NT)]
    vars_ = [("time", [0], [], time), ("lat", [1], [], lat), ("lon", [2], [], lon),
             ("t", [0, 1, 2], [att_float("_FillValue", [1e20]), att_float("valid_max", [400.0])], None)]

    def header(begins):
        h = b"CDF\x01" + struct.pack(">i", 0)
        h += struct.pack(">ii", 0x0A, len(dims)) + b"".join(name(n) + struct.pack(">i", l) for n, l in dims)
        h += struct.pack(">ii", 0, 0)
        h += struct.pack(">ii", 0x0B, len(vars_))
        for (n, ids, atts, _), (vsize, begin) in zip(vars_, begins):
            h += name(n) + struct.pack(">i", len(ids)) + b"".join(struct.pack(">i", i) for i in ids)
            h += struct.pack(">ii", 0x0C, len(atts)) + b"".join(atts) if atts else struct.pack(">ii", 0, 0)
            h += struct.pack(">iii", 5, vsize, begin)
        return h

    sizes = [4 * math.prod(dims[i][1] for i in ids) for _, ids, _, _ in vars_]
    hlen = len(header([(s, 0) for s in sizes]))
    begins, at = [], hlen
    for s in sizes:
        begins.append((s, at))
        at += s
    with open(out, "wb") as f:
        f.write(header(begins))
        for _, _, _, vals in vars_[:3]:
            f.write(b"".join(struct.pack(">f", v) for v in vals))
        f.write(b"".join(struct.pack(">I", bits(t, y, x)) for t in range(NT) for y in range(NY) for x in range(NX)))


if __name__ == "__main__":
    main(sys.argv[1])
