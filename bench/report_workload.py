"""Per view of a workload benchmark (the analytics workload, TPC-H): strategy, incremental and recompute
medians, speedups.

    python bench/report_workload.py bench/results_workload.json
    python bench/report_workload.py bench/results_tpch.json
"""
from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict

LABELS = {"orders_0.1pct": "0.1% of orders", "forget_customers": "forget 0.1% of customers"}  # older result files


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def main(path: str) -> None:
    data = json.load(open(path))
    views: dict[str, dict] = defaultdict(dict)
    scenarios: dict[str, str] = {}
    bare: dict[str, float] = {}
    size = ""
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if info["method"] == "bare_delete":
            bare[info["scenario"]] = bench["stats"]["median"]
            continue
        views[info["view"]][(info["method"], info["scenario"])] = bench["stats"]["median"]
        views[info["view"]]["strategy"] = info["strategy"]
        size = info.get("size_label") or f"{info['orders']:,} orders"
        if info["method"] == "incremental":
            scenarios.setdefault(info["scenario"], info.get("label") or LABELS.get(info["scenario"], info["scenario"]))
    machine = data.get("machine_info", {})
    print(f"{size}; medians in ms; {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, run {data.get('datetime', '?')[:16]}.\n")
    print("| view | " + " | ".join(f"incremental, {label}" for label in scenarios.values()) + " | ivm recompute | "
          + " | ".join(f"speedup ({label})" for label in scenarios.values()) + " | strategy |")
    print("|---|" + "---:|" * (2 * len(scenarios) + 1) + "---|")
    speedups: dict[str, list[float]] = defaultdict(list)
    for view, m in sorted(views.items(), key=lambda item: _natural(item[0])):
        rec = m.get(("recompute", "-"))
        times = [m.get(("incremental", s)) for s in scenarios]
        if rec is None or not any(times):
            continue
        for scenario, t in zip(scenarios, times):
            if t:
                speedups[scenario].append(rec / t)
        cells = [f"{t * 1e3:.1f}" if t else "-" for t in times] + [f"{rec * 1e3:.1f}"] \
            + [f"{rec / t:.1f}x" if t else "-" for t in times]
        print(f"| {view} | {' | '.join(cells)} | {m['strategy']} |")
    if bare:
        print("\nBare DELETE of the same rows in plain DuckDB, without views: " + ", ".join(
            f"{bare[s] * 1e3:.1f} ms ({label})" for s, label in scenarios.items() if s in bare) + ".")
    if speedups:
        print("\nMedian speedup over ivm recompute: " + ", ".join(
            f"**{statistics.median(speedups[s]):.1f}x** {label} ({len(speedups[s])} views)"
            for s, label in scenarios.items() if speedups[s]) + ".")


if __name__ == "__main__":
    main(sys.argv[1])
