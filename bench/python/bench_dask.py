"""Dask: 1 vs 2 workers (LocalCluster processes on loopback, one thread each) compressing the
same multi-file NetCDF data set into a Zarr store with the climz codec; the stores must be
byte-identical. Wall time of compress_to_zarr only (cluster started beforehand), best of REPS.
Data sets (SET):
  hgt025: the 21 steps of data/hgt.nc interpolated to 721 x 1440 (0.25 degree), 7 files of
          3 steps, one Zarr chunk per step (87 MB float32);
  era5:   the shared ERA5 2 m temperature GRIB (504 hourly steps of 33 x 49) as 21 daily
          NetCDF files (through a lossless .clz: climz reads GRIB, xarray here has no cfgrib),
          one chunk per day.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/python/bench_dask.py [SET] [REPS] [E]
"""
import os
import sys
import tempfile
import time

import numpy as np
import xarray as xr
from common import SHARED, hgt_721x1440, loadavg

import climz
from climz.dask import compress_to_zarr


def store_bytes(path):
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), path)] = fh.read()
    return out


def main():
    from dask.distributed import Client, LocalCluster
    which = sys.argv[1] if len(sys.argv) > 1 else "hgt025"
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    E = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
    tmp = tempfile.mkdtemp(prefix="climz-dask-")
    if which == "hgt025":
        paths, var, shape, chunk = hgt_files(tmp)
    else:
        paths, var, shape, chunk = era5_files(tmp)
    mb = np.prod(shape) * 4 / 1e6
    print("data: %s %s %s over %d files (%.1f MB float32), E = %g, load %s" % (which, var, shape, len(paths), mb, E,
                                                                              loadavg()))
    print("| workers | wall (s) | MB/s | store bytes |")
    print("|---:|---:|---:|---:|")
    stores = {}
    for w in (1, 2):
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, worker_dashboard_address=None) as cluster, Client(cluster):
            best = None
            for k in range(reps):
                out = os.path.join(tmp, "w%d_%d.zarr" % (w, k))
                t0 = time.perf_counter()
                compress_to_zarr(paths, out, max_abs_error=E, time_chunk=chunk)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            stores[w] = store_bytes(out)
            size = sum(len(b) for b in stores[w].values())
            print("| %d | %.2f | %.1f | %d |" % (w, best, mb / best, size))
    print("stores identical: %s; load after: %s" % (stores[1] == stores[2], loadavg()))


def hgt_files(tmp):
    paths = []
    steps = [hgt_721x1440(t) for t in range(21)]
    lat = np.linspace(-90, 90, 721)
    lon = np.arange(1440) * 0.25
    for k in range(7):
        a = np.stack(steps[3 * k:3 * k + 3])
        ds = xr.Dataset({"HGT": (("time", "lat", "lon"), a, {"units": "gpm"})},
                        coords={"time": ("time", np.arange(3 * k, 3 * k + 3, dtype=np.float64),
                                         {"units": "months since 1958-01-01", "calendar": "360_day"}),
                                "lat": ("lat", lat, {"units": "degrees_north"}),
                                "lon": ("lon", lon, {"units": "degrees_east"})})
        p = os.path.join(tmp, "hgt%d.nc" % k)
        ds.to_netcdf(p)
        paths.append(p)
    return paths, "HGT", (21, 721, 1440), 1


def era5_files(tmp):
    clz, nc = os.path.join(tmp, "era5.clz"), os.path.join(tmp, "era5.nc")
    climz.compress_file(os.path.join(SHARED, "era5-2mt-2019-03-uk-days01-21.grib"), clz, max_abs_error=0)
    climz.decompress_file(clz, nc)
    ds = xr.open_dataset(nc)
    var = [v for v in ds.data_vars if ds[v].ndim >= 3][0]
    tdim = ds[var].dims[0]
    T = ds.sizes[tdim]
    paths = []
    for d in range(T // 24):
        p = os.path.join(tmp, "day%02d.nc" % d)
        ds.isel({tdim: slice(24 * d, 24 * d + 24)}).rename({tdim: "time"} if tdim != "time" else {}).to_netcdf(p)
        paths.append(p)
    return paths, var, ds[var].shape, 24

if __name__ == "__main__":
    main()
