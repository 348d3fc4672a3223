#!/usr/bin/python3
"""audit_bound.py CLIMZ OUTDIR DATADIR... — the bound held in the file the user gets (issue 20).

Every gridded variable of every data file is compressed with the residual codec at 1e-2 and
1e-4 of its range, decompressed, and every decoded point is checked against the original
with an independent reader (python3-netcdf4, which applies CF masking and scaling itself):
  - bound: |decoded - original| <= E at every point valid in the original (tolerance:
    float32 rounding of the values), E from the header (never above the one asked for);
  - masks: the points missing in the original (fill, missing_value, outside valid range)
    are missing in the decoded file, and no other point is;
  - valid range: decoded valid values stay in [valid_min, valid_max];
  - dtype and attributes are those of the original.
Then the vaeformer codec with --max-abs-error on a few files. Prints each violation; exits 1
if there is any, 77 if no data file or no python3-netcdf4."""
import glob, json, os, subprocess, sys
try:
    import netCDF4
    import numpy as np
except ImportError:
    print("python3-netcdf4 is not installed: skipped")
    sys.exit(77)

climz, out = sys.argv[1], sys.argv[2]
import hashlib, time
files, seen = [], set()
for d in sys.argv[3:]:
    for f in sorted(glob.glob(os.path.join(d, "*"))):
        if f.endswith((".nc", ".cdf", ".grib", ".ctl")):
            digest = hashlib.sha256(open(f, "rb").read()).hexdigest()
            if digest not in seen:  # the bundled samples are in the shared set too
                seen.add(digest)
                files.append(f)
if not files:
    sys.exit(77)
os.makedirs(out, exist_ok=True)
violations = []
checked = 0

def bad(msg):
    violations.append(msg)
    print("VIOLATION:", msg, flush=True)

def run(*args):
    r = subprocess.run([climz, *args], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    return r.returncode, r.stdout + r.stderr

def compare(src, dec, clz, label):
    """src: original (NetCDF read independently, or None for GRIB/GrADS: then values from
    the header's bound against climz's own decoding is all we can check)."""
    global checked
    lock.acquire()
    try:
        compare_locked(src, dec, clz, label)
    finally:
        lock.release()

import threading
lock = threading.Lock()

def compare_locked(src, dec, clz, label):
    global checked
    rc, info = run("info", "--json", clz)
    if rc:
        bad(f"{label}: info failed: {info}")
        return
    h = json.loads(info)
    a = netCDF4.Dataset(src)
    b = netCDF4.Dataset(dec)
    for e in h["variables"]:
        name, E = e["name"], e["max_abs_error_bound"]
        va, vb = a[name], b[name]
        if va.dtype != vb.dtype:
            bad(f"{label} {name}: dtype {va.dtype} -> {vb.dtype}")
        for k in va.ncattrs():
            x, y = va.getncattr(k), vb.getncattr(k) if k in vb.ncattrs() else None
            if y is None or not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f"):
                bad(f"{label} {name}: attribute {k} {x!r} -> {y!r}")
        x = va[:]
        y = vb[:]
        mx, my = np.ma.getmaskarray(x), np.ma.getmaskarray(y)
        if x.shape != y.shape:
            bad(f"{label} {name}: shape {x.shape} -> {y.shape}")
            continue
        nm = int((mx != my).sum())
        if nm:
            bad(f"{label} {name}: {nm} points missing in one file only "
                f"({int((mx & ~my).sum())} lost masks, {int((~mx & my).sum())} valid points masked)")
        valid = ~mx & ~my
        xv = np.asarray(np.ma.getdata(x), dtype=np.float64)[valid]
        yv = np.asarray(np.ma.getdata(y), dtype=np.float64)[valid]
        checked += int(valid.sum())
        if xv.size:
            asked = e.get("rel_error_bound")
            rng = float(xv.max() - xv.min())
            if asked is not None and E > asked * rng * (1 + 1e-6) + 1e-30:
                bad(f"{label} {name}: header bound {E} above the {asked} of the range {rng}")
            # float32 rounding of the values themselves is the only slack
            tol = E + 2 * np.finfo(np.float32).eps * np.abs(xv)
            err = np.abs(yv - xv)
            over = err > tol
            if over.any():
                i = int(np.argmax(err - tol))
                bad(f"{label} {name}: {int(over.sum())} points over the bound {E:.6g} "
                    f"(max error {err.max():.6g} at {xv[i]:.6g} -> {yv[i]:.6g})")
            lo, hi = -np.inf, np.inf
            if "valid_range" in va.ncattrs():
                lo, hi = va.valid_range
            lo = va.valid_min if "valid_min" in va.ncattrs() else lo
            hi = va.valid_max if "valid_max" in va.ncattrs() else hi
            # netCDF4 masks outside the range in packed units; compare raw values too
            va.set_auto_maskandscale(False)
            vb.set_auto_maskandscale(False)
            rb = np.asarray(vb[:], dtype=np.float64)[valid]
            if (rb < lo).any() or (rb > hi).any():
                bad(f"{label} {name}: decoded valid values outside the valid range [{lo}, {hi}]")
    a.close()
    b.close()

def audit_file(f):
    t_file = time.time()
    base = os.path.basename(f)
    try:
        netCDF4.Dataset(f).close()
        readable = True
    except Exception:
        readable = False
    for rel in ("1e-2", "1e-4"):
        clz = os.path.join(out, f"{base}.{rel}.clz")
        dec = os.path.join(out, f"{base}.{rel}.nc")
        rc, msg = run("compress", "--codec", "residual", "--rel-error", rel, f, "-o", clz)
        if rc:
            if "no gridded" in msg or "nothing to compress" in msg:
                continue
            bad(f"{base} at {rel}: compress failed: {msg.strip()}")
            continue
        rc, msg = run("decompress", clz, "-o", dec)
        if rc:
            bad(f"{base} at {rel}: decompress failed: {msg.strip()}")
            continue
        if readable:
            compare(f, dec, clz, f"{base} at {rel}")
        else:  # GRIB/GrADS: climz's own figures, the decoded file against itself
            rc, info = run("eval", "--json", "--ref", f, dec)
            if rc:
                bad(f"{base} at {rel}: eval failed: {info.strip()}")
                continue
            ev = json.loads(info)
            h = json.loads(run("info", "--json", clz)[1])
            bounds = {e["name"]: e["max_abs_error_bound"] for e in h["variables"]}
            for e in ev["variables"]:
                E = bounds.get(e["name"], 0)
                if e.get("max_abs_error", 0) > E * (1 + 1e-6) + 1e-6 * abs(e.get("max_abs_error", 0)):
                    bad(f"{base} at {rel} {e['name']}: max error {e['max_abs_error']} over {E}")
                if e.get("missing_mask_mismatches"):
                    bad(f"{base} at {rel} {e['name']}: masks differ")
        for p in (clz, dec):
            if os.path.exists(p):
                os.remove(p)
    if os.environ.get("AUDIT_TIMES"):
        print(f"{base}: {time.time() - t_file:.1f} s", flush=True)


from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(2) as pool:  # two files at a time, each climz run on one thread
    list(pool.map(audit_file, files))

# the vaeformer's bounded mode on a few files
for f in files:
    base = os.path.basename(f)
    if base not in ("reduced.nc", "landsea.nc", "hgt.nc"):
        continue
    h0 = netCDF4.Dataset(f)
    for name, v in h0.variables.items():
        if v.ndim < 2 or not np.issubdtype(v.dtype, np.number):
            continue
        x = v[:]
        if x.count() == 0:
            continue
        E = 0.01 * float(x.max() - x.min()) or 0.5
        clz = os.path.join(out, f"{base}.{name}.vae.clz")
        dec = os.path.join(out, f"{base}.{name}.vae.nc")
        rc, msg = run("compress", "--codec", "vaeformer", "--max-abs-error", repr(E), "--var", name, f, "-o", clz)
        if rc:
            if "not a gridded" in msg or "grid" in msg and "small" in msg:
                continue
            bad(f"{base} {name} vaeformer: compress failed: {msg.strip()}")
            continue
        rc, msg = run("decompress", clz, "-o", dec)
        if rc:
            bad(f"{base} {name} vaeformer: decompress failed: {msg.strip()}")
            continue
        compare(f, dec, clz, f"{base} {name} vaeformer E={E:.4g}")
        for p in (clz, dec):
            os.remove(p)
    h0.close()

print(f"{len(files)} files, {checked} decoded points checked, {len(violations)} violations")
sys.exit(1 if violations else 0)
