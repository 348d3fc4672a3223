"""Python overhead: climz.compress / climz.decompress on a 721 x 1440 float32 field against the
same C calls (climz_compress / climz_decompress into buffers prepared beforehand, called
directly through ctypes: one foreign call, no wrapper), interleaved in one run, median of REPS.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/python/bench_overhead.py [REPS]
"""
import ctypes as C
import sys

import numpy as np
from common import hgt_721x1440, loadavg, median_time

import climz
from climz import _lib, core

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 11
a = hgt_721x1440()
R = float(a.max() - a.min())
print("field: HGT step 0 interpolated to 721 x 1440 float32 (%.1f MB), range %.1f, load %s" % (a.nbytes / 1e6, R,
                                                                                              loadavg()))
print("| bound | frame bytes | C compress (s) | climz.compress (s) | overhead | C decompress (s) | "
      "climz.decompress (s) | overhead | climz.decompress(out=) (s) | overhead |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, E in (("lossless", 0.0), ("1e-3 R", 1e-3 * R), ("1e-2 R", 1e-2 * R)):
    ctx = _lib.ctx()
    f = core._field(core._as4d(a))
    cap = _lib.lib.climz_compress_bound(C.byref(f))
    dst = np.empty(cap, np.uint8)
    n = C.c_size_t()
    opts = core._opts("residual", None, None)
    out = np.empty_like(a)
    g = core._field(core._as4d(out))

    def c_compress():
        _lib.lib.climz_ctx_set_param(ctx.p, _lib.P_MAX_ABS_ERROR, E)
        _lib.lib.climz_ctx_set_param(ctx.p, _lib.P_REL_ERROR, 0.0)
        _lib.check(_lib.lib.climz_compress(ctx.p, C.byref(f), C.byref(opts), dst.ctypes.data, cap, C.byref(n)), ctx)

    c_compress()
    frame = dst[:n.value].tobytes()
    fbuf = np.frombuffer(frame, np.uint8)

    def c_decompress():
        _lib.check(_lib.lib.climz_decompress(ctx.p, fbuf.ctypes.data, fbuf.size, C.byref(g)), ctx)

    def py_compress():
        return climz.compress(a, max_abs_error=E)

    def py_decompress():
        return climz.decompress(frame)

    out2 = np.empty_like(a)

    def py_decompress_out():  # into a buffer that is already mapped, as the C side does
        return climz.decompress(frame, out=out2)

    assert py_compress() == frame
    tc, tp, dc, dp, do = [], [], [], [], []
    for _ in range(reps):  # interleaved so that load changes hit both sides alike
        tc.append(median_time(c_compress, 1)[0])
        tp.append(median_time(py_compress, 1)[0])
        dc.append(median_time(c_decompress, 1)[0])
        dp.append(median_time(py_decompress, 1)[0])
        do.append(median_time(py_decompress_out, 1)[0])
    mc, mp, mdc, mdp, mdo = (float(np.median(x)) for x in (tc, tp, dc, dp, do))
    print("| %s | %d | %.4f | %.4f | %+.1f %% | %.4f | %.4f | %+.1f %% | %.4f | %+.1f %% |" % (
        label, len(frame), mc, mp, 100 * (mp / mc - 1), mdc, mdp, 100 * (mdp / mdc - 1), mdo, 100 * (mdo / mdc - 1)))
print("load after: %s" % loadavg())
