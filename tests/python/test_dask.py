"""Several bundled NetCDF files into one Zarr store with the climz codec: a distributed
LocalCluster (2 worker processes, 1 thread each, loopback only), the threaded scheduler and
one process write the same bytes, and the store reads back within the bound."""
import os

import numpy as np
import pytest
import xarray as xr
from conftest import DATA

from climz.dask import compress_to_zarr


def store_bytes(path):
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = fh.read()
    return out


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """tas of the CMIP5 sample split into four files of three months (a multi-file set)."""
    d = tmp_path_factory.mktemp("parts")
    src = xr.open_dataset(os.path.join(DATA, "tas_rectilinear_grid_2D.nc"))
    paths = []
    for k in range(4):
        p = str(d / ("tas_%d.nc" % k))
        src.isel(time=slice(3 * k, 3 * k + 3)).to_netcdf(p)
        paths.append(p)
    return paths, src


def test_distributed_equals_one_process(parts, tmp_path):
    import dask
    from dask.distributed import Client, LocalCluster

    paths, src = parts
    with dask.config.set(scheduler="synchronous"):
        compress_to_zarr(paths, str(tmp_path / "one.zarr"), max_abs_error=0.01)
    with dask.config.set(scheduler="threads", num_workers=2):
        compress_to_zarr(paths, str(tmp_path / "threads.zarr"), max_abs_error=0.01)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, worker_dashboard_address=None) as cluster, Client(cluster):
        compress_to_zarr(paths, str(tmp_path / "dist.zarr"), max_abs_error=0.01)
    one = store_bytes(str(tmp_path / "one.zarr"))
    assert store_bytes(str(tmp_path / "threads.zarr")) == one
    assert store_bytes(str(tmp_path / "dist.zarr")) == one
    z = xr.open_zarr(str(tmp_path / "dist.zarr"))
    assert z.tas.encoding["compressor"].codec_id == "climz"
    err = float(abs(z.tas - src.tas).max())
    assert err <= 0.01
    assert np.array_equal(z.time.values, src.time.values)
