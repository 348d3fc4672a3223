"""xarray.open_dataset(path, engine="climz"): the entry point, values bit for bit as
`climz decompress` writes them, lazy decoding of the steps touched, Dask chunks, open_mfdataset,
climz.to_clz."""
import os
import pickle
import subprocess

import numpy as np
import pytest
import xarray as xr
from conftest import CLI, DATA

import climz
from climz import core

SAMPLES = [("hgt.nc", False), ("model_T.nc", True), ("bcsd_obs_1999.nc", True),
           ("tas_rectilinear_grid_2D.nc", True), ("sftlf_mod1_rectilinear_grid_2D.nc", True)]


def test_entry_point_registered():
    assert "climz" in xr.backends.list_engines()


@pytest.mark.parametrize("name,decode_times", SAMPLES)
def test_equals_cli_decompress(tmp_path, name, decode_times):
    if not os.path.exists(CLI):
        pytest.skip("no climz program")
    clz, nc = str(tmp_path / "a.clz"), str(tmp_path / "a.nc")
    subprocess.run([CLI, "compress", "--max-abs-error", "0.05", os.path.join(DATA, name), "-o", clz], check=True,
                   capture_output=True)
    subprocess.run([CLI, "decompress", clz, "-o", nc], check=True, capture_output=True)
    for kw in ({"decode_times": decode_times}, {"decode_times": False, "mask_and_scale": False}):
        a = xr.open_dataset(clz, engine="climz", **kw)
        b = xr.open_dataset(nc, **kw)
        assert set(a.variables) == set(b.variables) and a.attrs == b.attrs
        for v in b.variables:
            x, y = a[v].values, b[v].values
            assert x.dtype == y.dtype and x.shape == y.shape, v
            assert x.tobytes() == y.tobytes(), v
            assert a[v].attrs == b[v].attrs, v
            assert a[v].dims == b[v].dims
        assert set(a.coords) == set(b.coords)
        b.close()


def test_lazy_reads_only_steps_touched(tmp_path, monkeypatch):
    clz = str(tmp_path / "h.clz")
    climz.compress_file(os.path.join(DATA, "hgt.nc"), clz, max_abs_error=0.5)
    calls = []
    orig = core.Reader.read_stored

    def spy(self, name, t0=0, nt=0, model=None):
        calls.append((name, t0, nt))
        return orig(self, name, t0, nt, model)

    monkeypatch.setattr(core.Reader, "read_stored", spy)
    ds = climz.open_dataset(clz, decode_times=False)
    calls.clear()
    one = ds.HGT[5, 10:20, 30:40].values
    assert calls == [("HGT", 5, 1)]
    calls.clear()
    ds.HGT[4:9:2].values
    assert calls == [("HGT", 4, 5)]
    whole = ds.HGT.values
    assert np.array_equal(whole[5, 10:20, 30:40], one)
    assert np.array_equal(ds.HGT[::-3].values, whole[::-3])
    assert np.array_equal(ds.HGT[-1].values, whole[-1])
    assert np.array_equal(ds.HGT.isel(time=[1, 4, 2]).values, whole[[1, 4, 2]])


def test_dask_chunks_follow_time_groups(tmp_path):
    pytest.importorskip("dask")
    clz = str(tmp_path / "h.clz")
    climz.compress_file(os.path.join(DATA, "hgt.nc"), clz, max_abs_error=0.5)
    g = climz.Reader(clz).variables["HGT"]["time_group"]
    lazy = xr.open_dataset(clz, engine="climz", decode_times=False, chunks={})
    T = lazy.HGT.shape[0]
    assert lazy.HGT.chunks[0] == tuple(min(g, T - i) for i in range(0, T, g))
    eager = xr.open_dataset(clz, engine="climz", decode_times=False)
    assert lazy.HGT.values.tobytes() == eager.HGT.values.tobytes()
    # picklable for distributed workers
    again = pickle.loads(pickle.dumps(lazy))
    assert again.HGT[3].values.tobytes() == eager.HGT[3].values.tobytes()


def test_open_mfdataset_and_to_clz(tmp_path):
    pytest.importorskip("dask")
    src = xr.open_dataset(os.path.join(DATA, "tas_rectilinear_grid_2D.nc"))
    paths = []
    for k in range(3):
        part = src.isel(time=slice(4 * k, 4 * k + 4))
        p = str(tmp_path / ("tas%d.clz" % k))
        climz.to_clz(part, p, max_abs_error=0.01)
        paths.append(p)
    mf = xr.open_mfdataset(paths, engine="climz", combine="by_coords", data_vars="minimal")
    assert mf.tas.shape == src.tas.shape
    assert mf.tas.attrs["units"] == src.tas.attrs["units"]
    assert np.array_equal(mf.time.values, src.time.values)
    assert np.array_equal(mf.lat_bnds.values, src.lat_bnds.values)
    assert float(abs(mf.tas - src.tas).max()) <= 0.01
    assert mf.tas.encoding["climz_codec"] == "residual"
    assert mf.attrs == src.attrs


def test_open_buffer():
    """A frame (or any .clz image) in memory opens too, without a file."""
    a = np.ones((4, 10, 12), np.float32) * np.arange(12, dtype=np.float32)
    ds = climz.xarray_backend.ClimzBackendEntrypoint().open_dataset(climz.compress(a))
    assert ds["data"].dims == ("time", "level", "y", "x")
    assert np.array_equal(ds["data"].values[:, 0], a)
