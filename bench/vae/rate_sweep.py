#!/usr/bin/env python3
"""rate_sweep.py — one VAEformer model at many rates (issue 22, part 1).

Runs bench_vae on every held-out set with the codec's rate level swept (`--opt step=K`,
quantisation step 2^(K/8) of the latent, doc/format.md section 9), then gives the single
model's ratio at equal RMSE (0.3 % to 3 % of the range, log-log interpolation between the
swept levels) beside the per-lambda model family of bench/RESULTS.md (its recorded figures:
the family's model files are not in the repository) and SZ3 (SPEC section 8's ratios at
RMSE <= 1 % and 0.1 % R; between and beyond them a power law through those two points).

usage: rate_sweep.py BENCH_VAE MODEL [LEVELS [SETS]] > out.md   (comma-separated)
  e.g. OMP_NUM_THREADS=1 bench/vae/rate_sweep.py build/bench/bench_vae models/climz-default.safetensors
"""
import math
import subprocess
import sys

SETS = sys.argv[4].split(",") if len(sys.argv) > 4 else ["UWND", "VWND", "HGT", "ERA5 2t", "tas", "fice"]
TARGETS = [0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]  # RMSE, % of the range
# bench/RESULTS.md, "VAEformer codec": the 10000-step models at lambdas 1e-4 .. 5e-3 (ratio, RMSE % R)
FAMILY = {
    "UWND": [(139.0, 1.90), (78.6, 1.20), (63.3, 0.98), (49.7, 0.79), (36.1, 0.60), (32.2, 0.56)],
    "HGT": [(362.5, 2.86), (241.7, 1.72), (199.3, 1.34), (166.9, 1.07), (119.1, 0.76), (104.3, 0.67)],
    "ERA5 2t": [(213.0, 1.36), (123.0, 0.95), (98.9, 0.82), (72.8, 0.73), (48.2, 0.62), (40.2, 0.59)],
    "tas": [(426.2, 2.56), (217.1, 1.56), (173.5, 1.31), (125.2, 1.04), (76.9, 0.72), (64.7, 0.63)],
}
# SPEC section 8 (as in bench_vae.c): SZ3's best ratio at RMSE <= 1 % R and <= 0.1 % R
SZ3 = {"UWND": (33.5, 8.70), "VWND": (32.8, 8.46), "HGT": (81.4, 19.9), "ERA5 2t": (73.1, 10.6),
       "tas": (65.6, 11.7)}


def run(bench, model, label, level):
    """(ratio, RMSE % R) of the model's row for one set at one level, or None."""
    out = subprocess.run([bench, "--model", model, "--only", label, "--no-peers", "--no-train",
                          "--opt", f"step={level}"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 7 and cells[0].endswith(".safetensors"):
            return float(cells[2]), float(cells[6])
    return None


def at(points, e):
    """ratio at RMSE e (% R) by log-log interpolation of (ratio, rmse) points; None outside."""
    pts = sorted(points, key=lambda p: p[1])
    for (r0, e0), (r1, e1) in zip(pts, pts[1:]):
        if e0 <= e <= e1 and e1 > e0:
            w = (math.log(e) - math.log(e0)) / (math.log(e1) - math.log(e0))
            return math.exp(math.log(r0) + w * (math.log(r1) - math.log(r0)))
    return None


def sz3_at(label, e):
    if label not in SZ3:
        return None
    r1, r01 = SZ3[label]
    return r1 * e ** (math.log(r1 / r01) / math.log(10.0))


def fmt(x):
    return "—" if x is None else f"{x:.1f}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    bench, model = sys.argv[1], sys.argv[2]
    levels = [int(k) for k in sys.argv[3].split(",")] if len(sys.argv) > 3 else \
        [-16, -8, -4, 0, 4, 8, 12, 16, 20, 24, 28, 32]
    print(f"## One model at many rates: `{model}`, levels {levels}\n")
    for label in SETS:
        sweep = []
        print(f"### {label}\n\n| level | step | ratio | RMSE % R |\n|---:|---:|---:|---:|")
        for k in levels:
            p = run(bench, model, label, k)
            if p:
                sweep.append(p)
                print(f"| {k} | {2 ** (k / 8):.3f} | {p[0]:.1f} | {p[1]:.3f} |")
        fam = FAMILY.get(label)
        print(f"\n| RMSE % R | one model | family | one / family | SZ3 (SPEC, power law) | one / SZ3 |\n"
              "|---:|---:|---:|---:|---:|---:|")
        for e in TARGETS:
            one, f, s = at(sweep, e), at(fam, e) if fam else None, sz3_at(label, e)
            rf = f"{one / f:.2f}" if one and f else "—"
            rs = f"{one / s:.2f}" if one and s else "—"
            print(f"| {e} | {fmt(one)} | {fmt(f)} | {rf} | {fmt(s)} | {rs} |")
        print()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
