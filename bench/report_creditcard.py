"""Turn a pytest-benchmark JSON file of ``bench/test_bench_creditcard.py`` into the README's table and plot.

    python bench/report_creditcard.py bench/creditcard.json [--plot bench/creditcard.png]

The table has the median of every method per size (seconds) and the ratios the targets are about; the plot
(needs matplotlib, the ``bench`` extra) shows time against customers, log axes, one line per method.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

METHODS = {
    "script": "rerun pipeline.py",
    "duckdb_rerun": "full recompute (plain DuckDB)",
    "ivm_recompute": "full recompute (ivm)",
    "incremental_1pct": "incremental: 1% of customers",
    "incremental_10_with_mails": "incremental: 10 customers + their mails",
    "incremental_10": "incremental: 10 customers",
}


def medians(path: str) -> tuple[dict[int, dict[str, float]], dict]:
    data = json.load(open(path))
    found: dict[int, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if info.get("example") == "creditcard":
            found[info["customers"]][info["method"]] = bench["stats"]["median"]
    return dict(sorted(found.items())), data


def table(found: dict[int, dict[str, float]], data: dict) -> str:
    machine = data.get("machine_info", {}).get("cpu", {})
    lines = [f"Medians in seconds; {machine.get('brand_raw', '?')}, {machine.get('count', '?')} cores, "
             f"run {data.get('datetime', '?')[:16]}.", "",
             "| customers (mails) | " + " | ".join(METHODS.values())
             + " | script / incremental 10 | DuckDB / incremental 10 |",
             "|---|" + "---:|" * (len(METHODS) + 2)]
    for size, m in found.items():
        cells = [f"{m[k]:.4f}" if k in m else "" for k in METHODS]
        inc = m.get("incremental_10")
        ratio = (lambda k: f"{m[k] / inc:,.0f}x" if inc and k in m else "")
        lines.append(f"| {size:,} ({size * 10:,}) | " + " | ".join(cells)
                     + f" | {ratio('script')} | {ratio('duckdb_rerun')} |")
    return "\n".join(lines)


def plot(found: dict[int, dict[str, float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method, label in METHODS.items():
        points = [(size, m[method]) for size, m in found.items() if method in m]
        if points:
            xs, ys = zip(*points)
            axes.plot(xs, ys, marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("customers (10 mails each)")
    axes.set_ylabel("seconds (median)")
    axes.set_title("Credit-card example: deleting customers vs rerunning")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--plot", help="write the PNG plot here (needs matplotlib)")
    args = parser.parse_args(argv)
    found, data = medians(args.results)
    print(table(found, data))
    if args.plot:
        plot(found, args.plot)


if __name__ == "__main__":
    main()
