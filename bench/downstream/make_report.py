"""make_report.py — the table and chart of the downstream experiment (bench/downstream/run.sh).

    python3 make_report.py results.tsv results.md rmse_vs_lead.png

results.tsv holds the lines of bench_forecast (train_rmse, persistence, loss, rmse) and of
run.sh (raw_bytes, set). The table gives, per training set: compression ratio (float32 bytes
/ compressed bytes), RMSE of the decoded training data (K and % of the range), and the
forecaster's latitude-weighted RMSE at each lead, mean +- standard deviation over the seeds
(population std), with the ratio of the mean to the original's mean.
"""
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    raw = None
    sets = {}  # label -> (bytes, description), in run order
    train = {}  # label -> (rmse, lat rmse, range)
    persist = {}
    rmse = defaultdict(lambda: defaultdict(list))  # label -> lead -> [per seed]
    loss = defaultdict(list)  # label -> [(first, last, seconds)]
    order = ["original"]
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] == "raw_bytes":
                raw = int(p[1])
            elif p[0] == "set":
                sets[p[1]] = (int(p[2]), p[3])
                order.append(p[1])
            elif p[0] == "train_rmse":
                train[p[1]] = tuple(float(v) for v in p[2:5])
            elif p[0] == "persistence":
                persist[int(p[1])] = float(p[2])
            elif p[0] == "loss":
                loss[p[1]].append(tuple(float(v) for v in p[3:6]))
            elif p[0] == "rmse":
                rmse[p[1]][int(p[3])].append(float(p[4]))
    return raw, sets, train, persist, rmse, loss, [o for o in order if o in rmse]


def main(tsv, md, png):
    raw, sets, train, persist, rmse, loss, order = read(tsv)
    leads = sorted(rmse["original"])
    base = {ld: statistics.mean(rmse["original"][ld]) for ld in leads}
    nseeds = len(rmse["original"][leads[0]])
    out = []
    out.append(
        "| training set | ratio | RMSE of training data: K / % R | "
        + " | ".join(f"{ld} h: RMSE K (x orig.)" for ld in leads)
        + " |"
    )
    out.append("|---|---:|---:|" + "---:|" * len(leads))
    for label in order:
        if label == "original":
            ratio, err = "1", "0"
        else:
            ratio = f"{raw / sets[label][0]:.1f}"
            e, _, rng = train[label]
            err = f"{e:.4f} / {100 * e / rng:.3f}"
        cells = []
        for ld in leads:
            v = rmse[label][ld]
            m, s = statistics.mean(v), statistics.pstdev(v)
            cells.append(f"{m:.4f} ± {s:.4f} ({m / base[ld]:.3f})")
        out.append(f"| {label} | {ratio} | {err} | " + " | ".join(cells) + " |")
    out.append(
        "| persistence (no model) | – | – | "
        + " | ".join(f"{persist[ld]:.4f} ({persist[ld] / base[ld]:.3f})" for ld in leads)
        + " |"
    )
    out.append("")
    out.append(
        f"Mean ± standard deviation over {nseeds} seeds; (x orig.) is the mean over the mean "
        "of the forecaster trained on the original. Ratio: float32 bytes of the training "
        "days over the compressed bytes."
    )
    out.append("")
    out.append("| training set | what | training loss, first -> last 10 % (mean over seeds) | s per run (median) |")
    out.append("|---|---|---|---:|")
    for label in order:
        what = "the ERA5 file as it is" if label == "original" else sets[label][1]
        ls = loss[label]
        first = statistics.mean(x[0] for x in ls)
        last = statistics.mean(x[1] for x in ls)
        secs = statistics.median(x[2] for x in ls)
        out.append(f"| {label} | {what} | {first:.4f} -> {last:.4f} | {secs:.0f} |")
    with open(md, "w") as f:
        f.write("\n".join(out) + "\n")

    fig, (ax, rx) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label in order:
        m = [statistics.mean(rmse[label][ld]) for ld in leads]
        lo = [m[i] - min(rmse[label][ld]) for i, ld in enumerate(leads)]
        hi = [max(rmse[label][ld]) - m[i] for i, ld in enumerate(leads)]
        name = label if label == "original" else f"{label} ({raw / sets[label][0]:.0f}x)"
        ax.errorbar(leads, m, yerr=[lo, hi], marker="o", capsize=3, label=name)
        r = [m[i] / base[ld] for i, ld in enumerate(leads)]
        rlo = [r[i] - min(rmse[label][ld]) / base[ld] for i, ld in enumerate(leads)]
        rhi = [max(rmse[label][ld]) / base[ld] - r[i] for i, ld in enumerate(leads)]
        rx.errorbar(leads, r, yerr=[rlo, rhi], marker="o", capsize=3, label=name)
    ax.plot(leads, [persist[ld] for ld in leads], "k--", label="persistence")
    ax.set_ylabel("latitude-weighted RMSE (K), days 18-21")
    rx.axhline(1.02, color="grey", ls=":", label="+2 %")
    rx.set_ylabel("RMSE / RMSE of the original-trained forecaster")
    for a in (ax, rx):
        a.set_xlabel("lead time (h)")
        a.set_xticks(leads)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(
        f"ERA5 2 m temperature (UK, 33 x 49): a forecaster trained on each set, evaluated on the "
        f"original days 18-21; {nseeds} seeds, bars min-max",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: make_report.py results.tsv results.md chart.png")
    main(*sys.argv[1:])
