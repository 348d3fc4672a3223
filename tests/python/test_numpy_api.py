"""climz.compress / climz.decompress / climz.Reader over the in-memory C API."""
import concurrent.futures as cf
import os
import subprocess

import numpy as np
import pytest
from conftest import CLI, DATA

import climz


def smooth(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    for ax in range(a.ndim):
        a = np.cumsum(a, axis=ax)
    return (a / np.sqrt(a.size ** (1 / a.ndim))).astype(dtype)


@pytest.mark.parametrize("shape", [(50,), (33, 81), (4, 33, 81), (3, 2, 20, 30)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_bound(shape, dtype):
    a = smooth(shape, dtype)
    for E in (0.1, 1e-3):
        frame = climz.compress(a, max_abs_error=E)
        assert isinstance(frame, bytes)
        b = climz.decompress(frame, shape=a.shape)
        assert b.dtype == a.dtype and b.shape == a.shape
        assert np.max(np.abs(b - a)) <= E


def test_lossless_and_shape():
    a = smooth((33, 81))
    b = climz.decompress(climz.compress(a))
    assert b.shape == a.shape and b.tobytes() == a.tobytes()
    a3 = smooth((5, 33, 81))
    assert climz.decompress(climz.compress(a3)).tobytes() == a3.tobytes()


def test_rel_error():
    a = smooth((40, 60), np.float64) * 100
    b = climz.decompress(climz.compress(a, rel_error=1e-3))
    assert np.max(np.abs(a - b)) <= 1e-3 * (a.max() - a.min()) * (1 + 1e-12)


def test_nan_and_fill_exact():
    a = smooth((6, 30, 40))
    a[:, 3:7, 5:9] = np.nan
    payload = np.array([0x7FC00123], dtype=np.uint32).view(np.float32)[0]
    a[2, 0, 0] = payload
    a[1, 10:12, :] = -999.0
    frame = climz.compress(a, max_abs_error=0.01, fill_value=-999.0)
    b = climz.decompress(frame)
    miss = np.isnan(a) | (a == -999.0)
    assert np.array_equal(a.view(np.uint32)[miss], b.view(np.uint32)[miss])  # exact bits
    assert np.max(np.abs(a[~miss] - b[~miss])) <= 0.01
    assert climz.frame_info(frame)[2] == -999.0


def test_strided_views_code_like_copies():
    base = smooth((8, 60, 90), np.float64)
    for view in (base[::2, ::-1, 1::3], base[:, 10:50, :].transpose(0, 1, 2), base[3]):
        assert climz.compress(view, max_abs_error=0.01) == climz.compress(np.ascontiguousarray(view),
                                                                          max_abs_error=0.01)
    # transposed: the last two dims are still the grid, whatever the memory order
    t = base[0].T
    assert climz.compress(t, max_abs_error=0.01) == climz.compress(np.ascontiguousarray(t), max_abs_error=0.01)


def test_decompress_into_strided_out():
    a = smooth((20, 30))
    frame = climz.compress(a, max_abs_error=0.01)
    big = np.zeros((40, 60), dtype=np.float64)
    climz.decompress(frame, out=big[::2, ::2])
    assert np.max(np.abs(big[::2, ::2] - a)) <= 0.01 and not big[1::2].any()


def test_errors_carry_status():
    with pytest.raises(climz.ClimzError) as e:
        climz.decompress(b"\x89CLZ\r\n\x1a\nnot a frame at all" + bytes(100))
    assert e.value.status.startswith("CLIMZ_ERR_") and e.value.message
    frame = bytearray(climz.compress(smooth((20, 30)), max_abs_error=0.01))
    frame[len(frame) // 2] ^= 0xFF
    with pytest.raises(climz.ClimzError) as e:
        climz.decompress(bytes(frame))
    assert e.value.status in ("CLIMZ_ERR_CHECKSUM", "CLIMZ_ERR_CORRUPT")
    with pytest.raises(climz.ClimzError) as e:
        climz.compress(smooth((20, 30)), max_abs_error=-1)
    assert e.value.status == "CLIMZ_ERR_INVALID_ARG"
    with pytest.raises(TypeError):
        climz.compress(np.arange(10))


def test_threads_match_serial():
    fields = [smooth((4, 90, 120), seed=s) for s in range(6)]
    serial = [climz.compress(f, max_abs_error=0.01, threads=1) for f in fields]
    with cf.ThreadPoolExecutor(2) as ex:
        par = list(ex.map(lambda f: climz.compress(f, max_abs_error=0.01, threads=1), fields))
        back = list(ex.map(climz.decompress, par))
    assert par == serial
    assert all(np.max(np.abs(b - f)) <= 0.01 for b, f in zip(back, fields))


def test_vaeformer_bundled_model():
    a = smooth((73, 144)) * 20 + 5500
    frame = climz.compress(a, max_abs_error=2.0, codec="vaeformer")
    b = climz.decompress(frame)
    assert np.max(np.abs(a - b)) <= 2.0


def test_reader_matches_cli(tmp_path):
    src = os.path.join(DATA, "bcsd_obs_1999.nc")
    clz = str(tmp_path / "b.clz")
    climz.compress_file(src, clz, max_abs_error=0.05)
    with open(clz, "rb") as f:
        image = f.read()
    for r in (climz.Reader(clz), climz.Reader(image)):
        assert set(r.variables) == {"pr", "tas"}
        whole = r.read("tas")
        assert np.array_equal(r.read("tas", 3, 2), whole[3:5], equal_nan=True)
        assert r.variables["tas"]["time_group"] >= 1
    info = climz.info(clz)
    assert {v["name"] for v in info["variables"]} == {"pr", "tas"}
    if os.path.exists(CLI):
        out = str(tmp_path / "b.nc")
        subprocess.run([CLI, "decompress", clz, "-o", out], check=True, capture_output=True)
        netCDF4 = pytest.importorskip("netCDF4")
        with netCDF4.Dataset(out) as d:
            d.set_auto_maskandscale(False)
            ref = d["tas"][:]
        assert climz.Reader(clz).read_stored("tas").tobytes() == np.asarray(ref).tobytes()


def test_frame_records_the_shape():
    """frames of this package record how many dims the array had: the shape comes back as it was"""
    rng = np.random.default_rng(3)
    for shp in [(5,), (1, 7, 9), (3, 7, 9), (2, 1, 7, 9), (7, 9), (1, 1, 7, 9)]:
        a = rng.random(shp).astype(np.float32)
        b = climz.decompress(climz.compress(a, max_abs_error=1e-3))
        assert b.shape == a.shape
        assert np.max(np.abs(a - b)) <= 1e-3
