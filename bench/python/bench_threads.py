"""The GIL is released while climz codes: K fields compressed (and decompressed) by 1 thread and by
2 Python threads (concurrent.futures), interleaved in one run, median of REPS; the frames of the
two runs must be byte-identical.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/python/bench_threads.py [REPS]
"""
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import hgt_721x1440, loadavg

import climz

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
fields = [hgt_721x1440(step) for step in range(8)]
R = float(max(f.max() for f in fields) - min(f.min() for f in fields))
E = 1e-3 * R
mb = sum(f.nbytes for f in fields) / 1e6
print("8 HGT steps interpolated to 721 x 1440 float32 (%.1f MB), residual at 1e-3 of the range, load %s" %
      (mb, loadavg()))


def run(threads, fn, items):
    # the serial case runs in a pool of one worker too, so that both sides allocate from
    # worker-thread malloc arenas (the main thread's arena gives large buffers back to the
    # system after each call, which made a serial run in the main thread look slower)
    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        out = list(pool.map(fn, items))
    return time.perf_counter() - t0, time.process_time() - c0, out


def comp(a):
    return climz.compress(a, max_abs_error=E, threads=1)


def decomp(b):
    return climz.decompress(b, threads=1)


frames = run(1, comp, fields)[2]
print("| operation | 1 thread (s) | MB/s | 2 threads (s) | MB/s | speed-up | cores busy with 2 threads (CPU s / wall s) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for op, fn, items in (("compress", comp, fields), ("decompress", decomp, frames)):
    wall = {1: [], 2: []}
    busy = []
    for _ in range(reps):  # one operation at a time, the thread counts interleaved
        for t in (1, 2):
            w, c, out = run(t, fn, items)
            wall[t].append(w)
            if t == 2:
                busy.append(c / w)
            if op == "compress":
                assert out == frames, "frames differ between thread counts"
    t1, t2 = np.median(wall[1]), np.median(wall[2])
    print("| %s | %.3f | %.1f | %.3f | %.1f | %.2f | %.2f |" % (op, t1, mb / t1, t2, mb / t2, t1 / t2,
                                                              np.median(busy)))
print("load after: %s" % loadavg())
