#!/usr/bin/python3
"""Writes src/container/frame_dict.c: the zstd dictionary of compact frames, version 1
(doc/format.md section 10.1).

Run ONCE, when the compact frame version was made; its output is committed and must never
change afterwards (compact frames of version 1 decode only with these bytes: a new dictionary
needs a new compact version). Kept to show where the bytes came from.

The dictionary is "raw content": the metadata blocks (header JSON, index, name table, schema
with its body stored as is) of frames that the HDF5 filter and the Python package write,
read back from frames made with an empty dictionary:
residual and vaeformer (the bundled model, so its SHA-256 and name are in it), float32 and
float64, absolute, relative and no bound, with and without a fill value / missing points.
zstd finds matches near the end of a dictionary more cheaply, so the most common kind of
frame (residual, float32, fill value) comes last.

Usage (from the source tree, with a build in build/ whose frame_dict.c is the empty
placeholder): /usr/bin/python3 tools/make_frame_dict.py > src/container/frame_dict.c
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import climz  # noqa: E402
import netCDF4  # noqa: E402

DATA = os.path.join(HERE, "..", "data")


def leb(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 127) << s
        s += 7
        if c < 128:
            return v, i


def meta_of(frame):
    """The metadata block of a compact frame made with an empty dictionary."""
    assert frame[:4] == b"\x89CZF", "not a compact frame"
    i = 6
    msize, i = leb(frame, i)
    zsize, i = leb(frame, i)
    with tempfile.NamedTemporaryFile(suffix=".zst") as f:
        f.write(frame[i:i + zsize])
        f.flush()
        m = subprocess.run(["zstd", "-q", "-d", "-c", f.name], check=True, capture_output=True).stdout
    assert len(m) == msize
    return m


def field(name, var, steps=1):
    with netCDF4.Dataset(os.path.join(DATA, name)) as ds:
        v = ds[var]
        v.set_auto_maskandscale(False)
        a = np.asarray(v[:steps])
        fill = getattr(v, "_FillValue", None)
    return a, None if fill is None else float(fill)


def main():
    hgt, _ = field("hgt.nc", "HGT")
    pr, pr_fill = field("bcsd_obs_1999.nc", "pr")
    tas, _ = field("tas_rectilinear_grid_2D.nc", "tas")
    frames = [
        climz.compress(hgt.astype(np.float64), rel_error=0.001),
        climz.compress(tas, max_abs_error=0.0),
        climz.compress(hgt, max_abs_error=5.0, codec="vaeformer", fill_value=1e20),
        climz.compress(hgt, rel_error=0.01, codec="vaeformer"),
        climz.compress(pr.astype(np.float64), max_abs_error=0.5, fill_value=pr_fill),
        climz.compress(hgt, rel_error=0.01, fill_value=-9.96921e36),
        climz.compress(pr, rel_error=0.001, fill_value=pr_fill),
        climz.compress(tas, max_abs_error=0.5, fill_value=1e20),
    ]
    d = b"".join(meta_of(f) for f in frames)
    print("/* frame_dict.c — the zstd dictionary of compact frames, version 1 (doc/format.md")
    print(" * section 10.1): %d bytes of raw content, made once by tools/make_frame_dict.py." % len(d))
    print(" * FROZEN: version-1 compact frames decode only with exactly these bytes. */")
    print('#include "container/frame_compact.h"')
    print()
    print("const unsigned char clz_compact_dict_v1[] = {")
    for k in range(0, len(d), 16):
        print("    " + ", ".join("0x%02x" % b for b in d[k:k + 16]) + ",")
    print("};")
    print("const size_t clz_compact_dict_v1_size = sizeof clz_compact_dict_v1;")


if __name__ == "__main__":
    main()
