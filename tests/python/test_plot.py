"""climz.plot.compare / rate_distortion and `climz plot` (the same code through the CLI)."""
import os
import subprocess

import numpy as np
import pytest
from conftest import CLI, DATA

import climz
from climz import plot

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_compare_and_cli(tmp_path):
    clz = str(tmp_path / "h.clz")
    climz.compress_file(os.path.join(DATA, "hgt.nc"), clz, max_abs_error=1.0)
    out = plot.compare(os.path.join(DATA, "hgt.nc"), clz, var="HGT", time=2, out=str(tmp_path / "a.png"))
    w, h = png_size(out)
    assert w > 2 * h > 0
    fig = plot.compare(os.path.join(DATA, "hgt.nc"), clz, time=2)
    assert "ratio" in fig._suptitle.get_text() and "max error" in fig._suptitle.get_text()
    if not os.path.exists(CLI):
        pytest.skip("no climz program")
    png = str(tmp_path / "cli.png")
    r = subprocess.run([CLI, "plot", clz, "--ref", os.path.join(DATA, "hgt.nc"), "-o", png, "--time", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert png_size(png) == (w, h)
    r = subprocess.run([CLI, "plot", clz, "--ref", os.path.join(DATA, "hgt.nc"), "-o", png, "--var", "nope"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "nope" in r.stderr


def test_compare_arrays_and_rate_distortion(tmp_path):
    a = np.cumsum(np.random.default_rng(0).standard_normal((40, 60)), axis=1).astype(np.float32)
    b = climz.decompress(climz.compress(a, max_abs_error=0.1))
    png_size(plot.compare(a, b, out=str(tmp_path / "c.png"), ratio=12.5))
    rd = plot.rate_distortion({"residual": [(0.1, 30.0), (1.0, 80.0)], "zfp": [(0.1, 10.0), (1.0, 20.0)]},
                              out=str(tmp_path / "rd.png"))
    png_size(rd)
    png_size(plot.rate_distortion([{"codec": "x", "error": 1, "ratio": 2}, {"codec": "x", "error": 2, "ratio": 5}],
                                  out=str(tmp_path / "rd2.png")))
