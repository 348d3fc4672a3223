"""The rate-distortion chart of bench/RESULTS.md: compression ratio against the measured max
abs error (% of the value range) of climz's residual codec and its VAEformer (bundled model,
with the error-bounded stage) against ZFP (fixed accuracy at tolerance E, zfp 1.0 CLI) on the
benchmark sets, with SZ3's published figures (SPEC section 8) where they exist.

    /usr/bin/python3 bench/python/rd_chart.py [OUT.png]     (default bench/python/rd_chart.png)

climz codes each set as one frame (the same chunks as `climz compress`); ZFP codes the 3-D
array (t, y, x) in one stream (missing points, if any, are set to the mean for ZFP only).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from common import DATA, HERE, SHARED

import climz
from climz import plot

# SZ3 at max abs error 1 % / 0.1 % of the range (SPEC section 8, as quoted in RESULTS.md)
SZ3 = {"HGT": [(1.0, 47.2), (0.1, 15.0)], "tas": [(1.0, 34.3), (0.1, 9.2)], "UWND": [(1.0, 21.4), (0.1, 7.2)],
       "ERA5 2t (744 steps in SPEC)": [(1.0, 31.7), (0.1, 8.5)]}
RELS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]


def load(path, var=None):
    clz = tempfile.mktemp(suffix=".clz")
    climz.compress_file(path, clz, max_abs_error=0)
    r = climz.Reader(clz)
    v = var or list(r.variables)[0]
    a = r.read(v)
    os.unlink(clz)
    return a.reshape(-1, a.shape[-2], a.shape[-1])


def zfp_point(a, tol, tmp):
    b = np.where(np.isnan(a), np.nanmean(a), a).astype(np.float32)
    raw, z, back = (os.path.join(tmp, n) for n in ("a.raw", "a.zfp", "b.raw"))
    b.tofile(raw)
    nt, ny, nx = b.shape
    subprocess.run(["zfp", "-i", raw, "-z", z, "-o", back, "-f", "-3", str(nx), str(ny), str(nt), "-a", repr(tol)],
                   check=True, capture_output=True)
    d = np.fromfile(back, dtype=np.float32).reshape(b.shape)
    ok = ~np.isnan(a)
    return float(np.max(np.abs(d[ok].astype(np.float64) - a[ok]))), b.nbytes / os.path.getsize(z)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "rd_chart.png")
    sets = [("HGT", load(os.path.join(DATA, "hgt.nc"))),
            ("tas", load(os.path.join(DATA, "tas_rectilinear_grid_2D.nc"))),
            ("UWND", load(os.path.join(SHARED, "monthly_navy_winds.cdf"), "UWND")),
            ("ERA5 2t (744 steps in SPEC)", load(os.path.join(SHARED, "era5-2mt-2019-03-uk-days01-21.grib")))]
    plt = plot._plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), constrained_layout=True)
    tmp = tempfile.mkdtemp(prefix="climz-rd-")
    print("| set | codec | max error (% R) | ratio |")
    print("|---|---|---:|---:|")
    for ax, (name, a) in zip(axes.flat, sets):
        R = float(np.nanmax(a) - np.nanmin(a))
        res = {"climz residual": [], "climz vaeformer + bound": [], "ZFP (tol = E)": []}
        for r in RELS:
            for label, codec in (("climz residual", "residual"), ("climz vaeformer + bound", "vaeformer")):
                fr = climz.compress(a, rel_error=r, codec=codec)
                d = climz.decompress(fr, shape=a.shape)
                ok = ~np.isnan(a)
                e = float(np.max(np.abs(d[ok].astype(np.float64) - a[ok])))
                res[label].append((100 * e / R, a.nbytes / len(fr)))
            e, ratio = zfp_point(a, r * R, tmp)
            res["ZFP (tol = E)"].append((100 * e / R, ratio))
        if name in SZ3:
            res["SZ3 (SPEC, at E)"] = SZ3[name]
        for codec, pts in res.items():
            for e, ratio in pts:
                print("| %s %s | %s | %.4f | %.2f |" % (name.split(" (")[0], a.shape, codec, e, ratio))
        plot.rate_distortion(res, ax=ax, title="%s %s" % (name, a.shape), xlabel="max abs error (% of range)")
    fig.suptitle("ratio vs max abs error: climz codecs, ZFP, SZ3")
    fig.savefig(out, dpi=100)
    print("wrote", out)


if __name__ == "__main__":
    main()
