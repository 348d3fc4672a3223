"""Compressing many NetCDF files into one Zarr store with the climz codec, on Dask.

    from dask.distributed import Client, LocalCluster
    from climz.dask import compress_to_zarr
    with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, Client(cluster):
        compress_to_zarr(sorted(glob.glob("era5/*.nc")), "era5.zarr", max_abs_error=0.05)

Each Zarr chunk (time_chunk steps of one variable) is read, coded into one climz frame and
written by whichever worker runs its task; a chunk's bytes depend only on its values, so any
scheduler (one process, threads, a cluster) writes the same store. The same code runs on a
real cluster's scheduler (Client("tcp://scheduler:8786")).
"""
import numpy as np
import xarray as xr

from .numcodecs import Climz


def compress_to_zarr(paths, store, max_abs_error=0.0, rel_error=0.0, variables=None, time_chunk=1, codec="residual",
                     model=None, combine="by_coords", **open_kw):
    """Opens paths as one data set (xr.open_mfdataset, Dask-backed, time_chunk steps a chunk)
    and writes it to the Zarr v2 store with every float variable of >= 2 dims (or those in
    variables) coded by climz.numcodecs.Climz; other variables keep Zarr's default codec.
    Runs on the current Dask scheduler (a distributed Client when one is active)."""
    ds = xr.open_mfdataset(paths, combine=combine, data_vars="minimal", coords="minimal", compat="override",
                           chunks={}, **open_kw)
    tdim = "time" if "time" in ds.dims else None
    encoding = {}
    for name, v in ds.data_vars.items():
        if (variables is None and v.ndim >= 2 and v.dtype.kind == "f") or (variables and name in variables):
            chunks = tuple(time_chunk if d == tdim else n for d, n in zip(v.dims, v.shape))
            ds[name] = v.chunk(dict(zip(v.dims, chunks)))
            encoding[name] = {"compressor": Climz(max_abs_error=max_abs_error, rel_error=rel_error, codec=codec,
                                                  model=model, dtype=np.dtype(v.dtype).newbyteorder("<").str),
                              "chunks": chunks}
    ds.to_zarr(store, mode="w", encoding=encoding, consolidated=True)
    return encoding
