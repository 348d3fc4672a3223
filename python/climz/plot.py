"""Pictures: an original field beside its decoded version and the error, and rate-distortion
charts. matplotlib with the Agg backend (no display needed).

    climz.plot.compare("hgt.nc", "hgt.clz", var="HGT", time=0, out="hgt.png")
    climz.plot.rate_distortion({"climz residual": [(0.1, 30.2), (1.0, 80.5)],
                                "zfp": [(0.1, 9.8), (1.0, 20.1)]}, out="rd.png")

`climz plot IN.clz --ref ORIG -o out.png [--var V] [--time T]` runs main() below
(python3 -m climz.plot): one implementation.
"""
import argparse
import os
import sys

import numpy as np


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _open(src):
    """A path (.clz through the climz backend, anything else through xarray's default engine),
    an xarray Dataset / DataArray or a numpy array."""
    import xarray as xr
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            is_clz = f.read(8) == b"\x89CLZ\r\n\x1a\n"
        return xr.open_dataset(src, engine="climz" if is_clz else None, decode_times=False)
    if isinstance(src, np.ndarray):
        return xr.DataArray(src, dims=["dim_%d" % i for i in range(src.ndim - 2)] + ["y", "x"])
    return src


def _field(obj, var, time, level):
    """The 2-D slice (values, lat or None, lon or None, var name, label) that compare shows."""
    import xarray as xr
    if isinstance(obj, xr.Dataset):
        if var is None:
            grids = [n for n, v in obj.data_vars.items() if v.ndim >= 2 and v.dtype.kind == "f"]
            if not grids:
                raise ValueError("no gridded variable to plot")
            var = grids[0]
        da = obj[var]
    else:
        da = obj
        var = var or da.name or "field"
    lead = da.dims[:-2]
    sel = {}
    for i, d in enumerate(lead):
        sel[d] = time if i == 0 and da.ndim > 2 else (level if i == 1 else 0)
        if i == 0 and len(lead) == 1 and da.sizes[d] > 1:
            sel[d] = time
    da2 = da.isel(sel) if sel else da
    label = ", ".join("%s %d" % (d, k) for d, k in sel.items())
    ydim, xdim = da.dims[-2], da.dims[-1]
    lat = np.asarray(da2[ydim].values, dtype=float) if ydim in da2.coords else None
    lon = np.asarray(da2[xdim].values, dtype=float) if xdim in da2.coords else None
    return np.asarray(da2.values, dtype=np.float64), lat, lon, var, label, da.attrs.get("units", "")


def _ratio(decoded, var):
    if isinstance(decoded, (str, os.PathLike)):
        try:
            from . import core
            info = core.info(decoded)
            for v in info.get("variables", []):
                if v.get("name") == var and v.get("ratio"):
                    return float(v["ratio"])
            return float(info.get("ratio") or 0) or None
        except Exception:
            return None
    return None


def compare(original, decoded, var=None, time=0, level=0, out=None, ratio=None, title=None, dpi=110):
    """A PNG with the original field, the decoded one (one colour scale for both) and the
    error decoded - original (diverging scale centred on 0), on lat/lon axes when the file
    has them; the title gives the compression ratio (from the .clz when decoded is one, or
    ratio=), the RMSE and the max error. original / decoded: paths (.nc, .clz), xarray
    objects or numpy arrays. Returns out (or the figure when out is None)."""
    plt = _plt()
    o = _field(_open(original), var, time, level)
    d = _field(_open(decoded), o[3], time, level)
    a, b = o[0], d[0]
    if a.shape != b.shape:
        raise ValueError("original %s and decoded %s differ in shape" % (a.shape, b.shape))
    ok = np.isfinite(a) & np.isfinite(b)
    err = np.where(ok, b - a, np.nan)
    rmse = float(np.sqrt(np.nanmean(err ** 2))) if ok.any() else float("nan")
    maxe = float(np.nanmax(np.abs(err))) if ok.any() else float("nan")
    if ratio is None:
        ratio = _ratio(decoded, o[3])
    lo, hi = np.nanmin(a), np.nanmax(a)
    em = maxe if maxe > 0 else 1.0
    lat, lon = o[1], o[2]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    kw = {}
    if lat is not None and lon is not None and lat.shape == (a.shape[0],) and lon.shape == (a.shape[1],):
        X, Y = lon, lat
        xl, yl = "longitude", "latitude"
    else:
        X, Y = np.arange(a.shape[1]), np.arange(a.shape[0])
        xl, yl = "x", "y"
    panels = [(a, "original", "viridis", lo, hi), (b, "decoded", "viridis", lo, hi),
              (err, "error (decoded - original)", "RdBu_r", -em, em)]
    for ax, (f, name, cmap, vmin, vmax) in zip(axes, panels):
        m = ax.pcolormesh(X, Y, np.ma.masked_invalid(f), cmap=cmap, vmin=vmin, vmax=vmax, shading="auto", **kw)
        ax.set_title(name)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        if xl == "longitude":
            ax.set_aspect("equal" if abs(Y[-1] - Y[0]) > 10 else "auto")
        cb = fig.colorbar(m, ax=ax, shrink=0.85)
        if o[5]:
            cb.set_label(o[5])
    head = title or "%s%s" % (o[3], " (%s)" % o[4] if o[4] else "")
    stats = ["RMSE %.4g" % rmse, "max error %.4g" % maxe]
    if ratio:
        stats.insert(0, "ratio %.1fx" % ratio)
    fig.suptitle("%s — %s" % (head, ", ".join(stats)))
    if out is None:
        return fig
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def rate_distortion(results, out=None, xlabel="max abs error (% of range)", ylabel="compression ratio",
                    title="rate-distortion", logx=True, logy=True, dpi=110, ax=None):
    """A ratio-vs-error chart of several codecs. results: {codec: [(error, ratio), ...]} or a
    list of {"codec", "error", "ratio"} dicts (e.g. read from a bench CSV); one line with
    markers per codec, points sorted by error. Returns out (or the figure); with ax, draws
    into that matplotlib axis (one panel of a bigger figure) and returns it."""
    plt = _plt()
    if not isinstance(results, dict):
        grouped = {}
        for r in results:
            grouped.setdefault(r["codec"], []).append((float(r["error"]), float(r["ratio"])))
        results = grouped
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7, 4.8), constrained_layout=True)
    markers = "osD^v<>ph*"
    for i, (name, pts) in enumerate(results.items()):
        pts = sorted((float(e), float(r)) for e, r in pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[i % len(markers)], label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if not own:
        return ax
    if out is None:
        return fig
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="climz plot", description="original, decoded and error maps of a .clz as a PNG")
    p.add_argument("input", help="the .clz file (or a decoded NetCDF)")
    p.add_argument("--ref", required=True, help="the original NetCDF file")
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    p.add_argument("--var", help="variable (default: the first gridded one)")
    p.add_argument("--time", type=int, default=0, help="time step (0-based; default 0)")
    p.add_argument("--level", type=int, default=0, help="level index for 4-D variables (default 0)")
    a = p.parse_args(argv)
    try:
        compare(a.ref, a.input, var=a.var, time=a.time, level=a.level, out=a.output)
    except (OSError, ValueError, KeyError, IndexError) as e:
        print("climz plot: %s" % e, file=sys.stderr)
        return 1
    print("%s -> %s" % (a.input, a.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
