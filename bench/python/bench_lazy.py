"""Lazy open: time to open a multi-variable .clz with xarray (engine="climz") and read one
variable at one step, against decompressing the whole file (climz_decompress_file to NetCDF,
and xarray loading every variable), median of REPS.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/python/bench_lazy.py [FILE.nc] [REPS]

FILE defaults to the shared monthly_navy_winds.cdf (UWND, VWND), coded at 0.1 % of each
variable's range with the residual codec.
"""
import os
import sys
import tempfile
import time

import numpy as np
import xarray as xr
from common import SHARED, loadavg, median_time

import climz
import climz.xarray_backend

src = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.path.join(SHARED, "monthly_navy_winds.cdf")
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
tmp = tempfile.mkdtemp(prefix="climz-lazy-")
clz = os.path.join(tmp, "f.clz")
climz.compress_file(src, clz, rel_error=1e-3, threads=1)
r = climz.Reader(clz)
names = list(r.variables)
var = names[0]
info = r.variables[var]
T = info["shape4"][0]
g = info["time_group"]
t = T // 2
print("file: %s -> %d bytes .clz; variables %s, %s has %d steps of %s, time group %d; load %s" % (
    os.path.basename(src), os.path.getsize(clz), names, var, T, info["shape4"][1:], g, loadavg()))
kw = {"decode_times": False}


def open_only():
    climz.xarray_backend.clear_cache()
    xr.open_dataset(clz, engine="climz", **kw).close()


def open_one_step():
    climz.xarray_backend.clear_cache()
    with xr.open_dataset(clz, engine="climz", **kw) as ds:
        return ds[var][t].values


def whole_c():
    climz.decompress_file(clz, os.path.join(tmp, "all.nc"))


def whole_xr():
    climz.xarray_backend.clear_cache()
    with xr.open_dataset(clz, engine="climz", **kw) as ds:
        ds.load()


one = open_one_step()
whole_c()
with xr.open_dataset(os.path.join(tmp, "all.nc"), **kw) as ref:
    assert np.array_equal(one, ref[var][t].values, equal_nan=True)
rows = [("open (xr.open_dataset, engine=climz)", open_only), ("open + %s[t=%d].values" % (var, t), open_one_step),
        ("climz_decompress_file (all to NetCDF)", whole_c), ("open + load() every variable", whole_xr)]
print("| operation | median (s) | chunks decoded |")
print("|---|---:|---:|")
total_groups = sum(-(-v["shape4"][0] // v["time_group"]) for v in r.variables.values())
for label, fn in rows:
    m, _ = median_time(fn, reps)
    dec = "0" if label.startswith("open (") else ("1 time group of %d steps (of %d groups)" % (g, total_groups)
                                                  if "values" in label else "all %d groups" % total_groups)
    print("| %s | %.4f | %s |" % (label, m, dec))
print("load after: %s" % loadavg())
