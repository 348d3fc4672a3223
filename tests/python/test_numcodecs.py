"""climz.numcodecs.Climz against numcodecs' own codec checks, and a Zarr v2 store."""
import os
import shutil

import numpy as np
import pytest
from numcodecs.registry import get_codec
from numcodecs.tests import common

import climz  # noqa: F401  (registers the codec)
from climz.numcodecs import Climz

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def smooth(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    for ax in range(a.ndim):
        a = np.cumsum(a, axis=ax)
    return (a / np.sqrt(a.size ** (1 / a.ndim))).astype(dtype)


def arrays():
    a = smooth((40, 60))
    a[5:9, 10:20] = np.nan
    b = smooth((3, 20, 30), seed=1).astype(np.float64)  # lossless float64 needs float32 values
    c = np.asfortranarray(smooth((30, 20), seed=2))
    d = smooth((500,), seed=3)
    return [a, b, c, d]


CODECS = [Climz(), Climz(max_abs_error=0.01), Climz(rel_error=1e-3, dtype="<f8"),
          Climz(max_abs_error=0.001, fill_value=-999.0)]
PRECISION = [None, 1, 1, 2]


@pytest.mark.parametrize("j", range(len(CODECS)))
def test_encode_decode(j):
    for arr in arrays():
        codec = CODECS[j]
        if codec.dtype != arr.dtype.str:  # raw bytes are read as the codec's dtype
            cfg = dict(codec.get_config(), dtype=arr.dtype.str)
            cfg.pop("id")
            codec = Climz(**cfg)
        common.check_encode_decode(arr, codec, precision=PRECISION[j])


def test_bound_holds():
    for arr in arrays():
        dec = np.asarray(Climz(max_abs_error=0.01).decode(Climz(max_abs_error=0.01).encode(arr)))
        dec = dec.view(arr.dtype).reshape(arr.shape, order="F" if arr.flags.f_contiguous else "C")
        ok = ~np.isnan(arr)
        assert np.array_equal(np.isnan(dec), ~ok)
        assert np.max(np.abs(dec[ok] - arr[ok])) <= 0.01


def test_config_and_repr():
    for codec in CODECS:
        common.check_config(codec)
    common.Climz = Climz  # check_repr evaluates the statement in numcodecs' test module
    common.check_repr("Climz(max_abs_error=0.01)")
    common.check_repr("Climz(max_abs_error=0.0, rel_error=0.001, dtype='<f8')")
    assert isinstance(get_codec({"id": "climz", "max_abs_error": 0.5}), Climz)


def test_backwards_compatibility(tmp_path, monkeypatch):
    """Frames written by an earlier climz (committed in tests/python/fixtures/climz) still
    decode to the same values. CLIMZ_REGEN_FIXTURES=1 writes missing fixtures back."""
    src = os.path.join(FIXTURES, "climz")
    if os.path.isdir(src):
        shutil.copytree(src, tmp_path / "fixture" / "climz")
    monkeypatch.chdir(tmp_path)
    regen = os.environ.get("CLIMZ_REGEN_FIXTURES")
    if regen:
        monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    elif not os.path.isdir(src):
        pytest.fail("fixtures missing: run with CLIMZ_REGEN_FIXTURES=1 once and commit them")
    common.check_backwards_compatibility("climz", arrays(), CODECS, precision=PRECISION)
    if regen:
        shutil.copytree(tmp_path / "fixture" / "climz", src, dirs_exist_ok=True)


def test_zarr_round_trip(tmp_path):
    zarr = pytest.importorskip("zarr")
    a = smooth((10, 50, 80)) * 10 + 280
    a[:, 20:30, 40:60] = np.nan  # a land mask
    a[3, 0, :] = np.nan
    store = str(tmp_path / "t.zarr")
    z = zarr.open(store, mode="w", shape=a.shape, chunks=(4, 50, 40), dtype="f4", fill_value=np.nan,
                  compressor=Climz(max_abs_error=0.05))
    z[:] = a
    back = zarr.open(store, mode="r")
    assert back.compressor == Climz(max_abs_error=0.05)
    b = back[:]
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    assert np.max(np.abs(a[ok] - b[ok])) <= 0.05
    assert np.array_equal(back[5, 10:20, 30:50], b[5, 10:20, 30:50], equal_nan=True)
    nbytes = sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store) if not f.startswith("."))
    assert nbytes < a.nbytes / 4


def test_zarr_vaeformer(tmp_path):
    zarr = pytest.importorskip("zarr")
    a = smooth((2, 73, 144)) * 20 + 5500
    model = os.path.join(os.path.dirname(FIXTURES), "..", "..", "models", "climz-default.safetensors")
    codec = Climz(max_abs_error=1.0, codec="vaeformer", model=os.path.normpath(model))
    assert len(codec.model_sha256) == 64
    z = zarr.open(str(tmp_path / "v.zarr"), mode="w", shape=a.shape, chunks=(1, 73, 144), dtype="f4",
                  compressor=codec)
    z[:] = a
    b = zarr.open(str(tmp_path / "v.zarr"), mode="r")[:]
    assert np.max(np.abs(a - b)) <= 1.0
