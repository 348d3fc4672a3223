#!/usr/bin/python3
"""bench_h5.py — HDF5 filters side by side through netCDF-C (issue 17): the climz plugin
(residual, vaeformer + bound) vs Debian's ZFP plugin (H5Z-ZFP, ID 32013, accuracy mode), zlib
level 4 (netCDF's deflate, nccopy -d4 -s) and zstd (when this netCDF-C build and plugin path
have it), on real netCDF files, at max errors of 1 % and 0.1 % of each variable's range, all
with the same chunks (one time step of the whole grid).

  - write MB/s: the variable's raw bytes / wall time of `nccopy -F` (or -d4) from an
    uncompressed netCDF-4 copy of the source (same nccopy overhead for every codec);
  - read MB/s: raw bytes / median of ROUNDS full reads of the variable with netCDF4-python
    (libnetcdf); the reads of all codecs of one case are interleaved (round k reads every
    codec's file once, in an order rotated by k), so load on a shared machine hits them alike;
    "read vs ZFP": median over the rounds of ZFP's read time / this codec's, same round;
  - size: the variable's stored bytes (H5Dget_storage_size); ratio = raw / stored;
  - max error: measured at every valid point of the original (missing points excluded), and
    "mask": whether the missing points come back as missing (fill value or NaN) exactly.

usage: HDF5_PLUGIN_PATH=build/plugins:/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins \\
       OMP_WAIT_POLICY=passive CLIMZ_H5_THREADS=1 /usr/bin/python3 bench/h5/bench_h5.py [DATA_DIR...]
Prints a markdown table."""
import os
import struct
import subprocess
import sys
import tempfile
import time

import h5py
import netCDF4
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = [  # (file, variable), looked up in the data folders given
    ("hgt.nc", "HGT"),
    ("model_T.nc", "T"),
    ("tas_rectilinear_grid_2D.nc", "tas"),
    ("bcsd_obs_1999.nc", "pr"),
    ("fice.nc", "fice"),
    ("monthly_navy_winds.cdf", "UWND"),
    ("rectilinear_grid_3D.nc", "rhumidity"),
]


def words(d):
    lo, hi = struct.unpack("<II", struct.pack("<d", d))
    return "%d,%d" % (lo, hi)


def find(name, dirs):
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


def load(path, var):
    """values (float64), validity mask, missing value of the original"""
    with netCDF4.Dataset(path) as d:
        v = d[var]
        v.set_auto_maskandscale(False)
        a = np.asarray(v[:], dtype=np.float64)
        attrs = {k: v.getncattr(k) for k in v.ncattrs()}
    miss = attrs.get("_FillValue", attrs.get("missing_value"))
    invalid = np.isnan(a)
    if miss is not None:
        invalid |= a == float(np.asarray(miss).ravel()[0])
    return a, ~invalid, (None if miss is None else float(np.asarray(miss).ravel()[0]))


def run(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, time.perf_counter() - t, r.stderr.strip()


ROUNDS = int(os.environ.get("BENCH_H5_ROUNDS", "7"))


def read_var(path, var):
    """the variable's values and the wall time of one full read"""
    t = time.perf_counter()
    with netCDF4.Dataset(path) as d:
        v = d[var]
        v.set_auto_maskandscale(False)
        a = v[:]
    return np.asarray(a, dtype=np.float64), time.perf_counter() - t


def stored(path, var):
    with h5py.File(path, "r") as f:
        return f[var].id.get_storage_size()


def main():
    dirs = sys.argv[1:] or [os.path.join(ROOT, "data"), os.path.join(ROOT, "..", "shared", "data")]
    tmp = tempfile.mkdtemp(prefix="bench_h5_")
    print("| data set (var, shape) | bound | codec | stored bytes | ratio | vs ZFP | max error / bound | held | mask | write MB/s | read MB/s | read vs ZFP |")
    print("|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|")
    zstd_note = None
    for fname, var in CASES:
        src = find(fname, dirs)
        if not src:
            continue
        a, valid, miss = load(src, var)
        raw = a.size * 4
        with netCDF4.Dataset(src) as d:
            dims = d[var].dimensions
            if d[var].dtype != np.float32:
                continue
        rng = a[valid].max() - a[valid].min()
        plain = os.path.join(tmp, "plain.nc")
        chunk = "%s/1" % dims[0]
        # the uncompressed netCDF-4 source every codec starts from (filters removed)
        rc, _, err = run(["nccopy", "-4", "-F", "none", "-c", chunk, src, plain])
        if rc:
            print("<!-- %s: %s -->" % (fname, err))
            continue
        for rel in (0.01, 0.001):
            E = rel * rng
            mw = ",%s" % words(miss) if miss is not None else ""
            codecs = [
                ("ZFP (32013, accuracy)", ["-F", "%s,32013,3,0,%s" % (var, words(E))]),
                ("zlib 4 (lossless)", ["-d4", "-s"]),
                ("zstd 3 (lossless)", ["-F", "%s,32015,3" % var]),
                ("climz residual", ["-F", "%s,400,0,0,%s%s" % (var, words(E), mw)]),
                ("climz vaeformer+bound", ["-F", "%s,400,1,0,%s%s" % (var, words(E), mw)]),
            ]
            done = []  # (label, file, write seconds)
            for k, (label, opts) in enumerate(codecs):
                if rel == 0.001 and "lossless" in label:
                    continue  # the same file as at 1 %
                out = os.path.join(tmp, "out%d.nc" % k)
                if os.path.exists(out):
                    os.unlink(out)
                rc, wt, err = run(["nccopy", "-4", "-c", chunk] + opts + [plain, out])
                if rc:
                    if "zstd" in label:
                        zstd_note = err.splitlines()[-1] if err else "failed"
                    else:
                        print("| %s | %g %% | %s | failed: %s |" % (fname, rel * 100, label, err.splitlines()[-1:]))
                    continue
                done.append((label, out, wt))
            times = {label: [] for label, _, _ in done}
            values = {}
            for r in range(ROUNDS):  # interleaved reads, the order rotated every round
                for label, out, _ in done[r % len(done):] + done[:r % len(done)]:
                    b, rt = read_var(out, var)
                    times[label].append(rt)
                    values[label] = b
            zfp = next((label for label, _, _ in done if "ZFP" in label), None)
            zfp_size = stored(next(o for l, o, _ in done if l == zfp), var) if zfp else None
            for label, out, wt in done:
                b = values[label]
                s = stored(out, var)
                rt = float(np.median(times[label]))
                vs = ("%.2fx" % float(np.median(np.array(times[zfp]) / np.array(times[label])))) if zfp else ""
                err_max = np.abs(b[valid] - a[valid]).max()
                same_mask = bool(np.array_equal(valid, ~(np.isnan(b) | ((b == miss) if miss is not None else False))))
                print("| %s %s %s | %g %% R | %s | %d | %.1f | %s | %.4g | %s | %s | %.1f | %.1f | %s |" % (
                    fname, var, "x".join(map(str, a.shape)), rel * 100, label, s, raw / s,
                    ("%.2fx" % (zfp_size / s)) if zfp_size and label != zfp else "",
                    err_max / E, "yes" if err_max <= E else "NO", "same" if same_mask else "DIFFERS", raw / wt / 1e6,
                    raw / rt / 1e6, vs if label != zfp else ""))
                sys.stdout.flush()
    if zstd_note:
        print("\nzstd: not available in this netCDF-C / HDF5 plugin set (%s)" % zstd_note)


if __name__ == "__main__":
    main()
