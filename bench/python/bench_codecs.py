"""Ratio and max error of the climz codec against the codecs Debian's numcodecs 0.11 offers:
Zstd and Blosc (lossless) and BitRound followed by Zstd (lossy: the fewest mantissa bits
whose measured max error is still <= E, i.e. matched max error), at E = 1 % and 0.1 % of each
field's range, and lossless. Every codec codes the whole array at once (one Zarr chunk).

    /usr/bin/python3 bench/python/bench_codecs.py
"""
import os

import numpy as np
from common import SHARED, hgt_721x1440
from numcodecs import Blosc, Zstd
from numcodecs.bitround import BitRound

import climz


def fields():
    yield "HGT 0.25 deg (1, 721, 1440)", hgt_721x1440()
    for label, path, var, kw in (
            ("tas CMIP5 (12, 96, 192)", os.path.join(SHARED, "tas_rectilinear_grid_2D.nc"), "tas", {}),
            ("UWND (132, 73, 144)", os.path.join(SHARED, "monthly_navy_winds.cdf"), "UWND", {}),
            ("ERA5 2t (504, 33, 49)", os.path.join(SHARED, "era5-2mt-2019-03-uk-days01-21.grib"), None, {})):
        clz = "/tmp/climz-bench-codecs.clz"
        climz.compress_file(path, clz, max_abs_error=0)
        r = climz.Reader(clz)
        v = var or list(r.variables)[0]
        a = r.read(v)
        yield label, a.reshape(a.shape[0], a.shape[2], a.shape[3]) if a.shape[1] == 1 else a


def maxerr(a, b):
    ok = ~np.isnan(a)
    return float(np.max(np.abs(a[ok].astype(np.float64) - b[ok])))


def chain(a, codecs):
    buf = a.copy()  # numcodecs 0.11's BitRound.encode rounds its input in place
    for c in codecs:
        buf = c.encode(buf)
    n = len(buf)
    for c in reversed(codecs):
        buf = c.decode(buf)
    return n, np.frombuffer(buf, dtype=a.dtype).reshape(a.shape)


print("| field | E | climz residual | Zstd(9) | Blosc(zstd 9, shuffle) | BitRound+Zstd(9) (keepbits) |")
print("|---|---|---:|---:|---:|---:|")
for label, a in fields():
    a = np.ascontiguousarray(a, dtype=np.float32)
    R = float(np.nanmax(a) - np.nanmin(a))
    z = chain(a, [Zstd(level=9)])
    bl = chain(a, [Blosc(cname="zstd", clevel=9, shuffle=Blosc.SHUFFLE)])
    for name, E in (("lossless", 0.0), ("0.1 % R", 1e-3 * R), ("1 % R", 1e-2 * R)):
        fr = climz.compress(a, max_abs_error=E)
        d = climz.decompress(fr, shape=a.shape)
        me = maxerr(a, d)
        assert me <= E
        cells = ["%.2f (%.3g)" % (a.nbytes / len(fr), me)]
        cells += ["%.2f (0)" % (a.nbytes / z[0]), "%.2f (0)" % (a.nbytes / bl[0])]
        if E == 0:
            cells.append("–")
        else:
            best = None
            for k in range(0, 24):
                n, dec = chain(a, [BitRound(keepbits=k), Zstd(level=9)])
                e = maxerr(a, dec)
                if e <= E:
                    best = (n, e, k)
                    break
            cells.append("%.2f (%.3g, %d)" % (a.nbytes / best[0], best[1], best[2]) if best else "none")
        print("| %s | %s (%.4g) | %s |" % (label, name, E, " | ".join(cells)))
print("cells: ratio (measured max abs error)")
