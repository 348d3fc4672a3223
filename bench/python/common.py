"""Fields shared by the Python benchmarks."""
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
DATA = os.path.join(ROOT, "data")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def hgt_721x1440(step=0):
    """HGT of data/hgt.nc, one step (0 by default), interpolated bilinearly to a 721 x 1440 (0.25 degree) grid,
    as bench/api/bench_memory makes it."""
    import netCDF4
    with netCDF4.Dataset(os.path.join(DATA, "hgt.nc")) as d:
        v = d["HGT"]
        a = np.asarray(v[step], dtype=np.float64)
        lat = np.asarray(d["lat"][:], dtype=np.float64)
        lon = np.asarray(d["lon"][:], dtype=np.float64)
    if lat[0] > lat[-1]:
        lat, a = lat[::-1], a[::-1]
    nlat = np.linspace(-90, 90, 721)
    nlon = np.arange(1440) * 0.25
    rows = np.stack([np.interp(nlat, lat, a[:, j]) for j in range(a.shape[1])], axis=1)   # (721, 144)
    lon_w = np.concatenate([lon, [lon[0] + 360]])
    out = np.stack([np.interp(nlon, lon_w, np.concatenate([r, r[:1]])) for r in rows])
    return out.astype(np.float32)


def median_time(fn, reps):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t)), t


def loadavg():
    return "%.1f" % os.getloadavg()[0]
