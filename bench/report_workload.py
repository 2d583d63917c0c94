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
    rebuilt_rounds: dict[tuple[str, str], tuple[int, int]] = {}
    size = ""
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if info["method"] == "bare_delete":
            bare[info["scenario"]] = bench["stats"]["median"]
            continue
        views[info["view"]][(info["method"], info["scenario"])] = bench["stats"]["median"]
        if info["method"] == "auto":
            rebuilt_rounds[(info["view"], info["scenario"])] = (info.get("rebuilt_rounds", 0), bench["stats"]["rounds"])
        views[info["view"]]["strategy"] = info["strategy"]
        size = info.get("size_label") or f"{info['orders']:,} orders"
        if info["method"] == "incremental":
            scenarios.setdefault(info["scenario"], info.get("label") or LABELS.get(info["scenario"], info["scenario"]))
    machine = data.get("machine_info", {})
    print(f"{size}; medians in ms; {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, run {data.get('datetime', '?')[:16]}.\n")
    methods = [m for m in ("incremental", "auto") if any((m, s) in v for v in views.values() for s in scenarios)]
    columns = [(m, s) for m in methods for s in scenarios]
    heading = {"incremental": "incremental", "auto": "auto (strategy=\"auto\")"}
    print("| view | " + " | ".join(f"{heading[m]}, {scenarios[s]}" for m, s in columns) + " | ivm recompute | "
          + " | ".join(f"speedup ({'' if m == 'incremental' else 'auto, '}{scenarios[s]})" for m, s in columns)
          + " | strategy |")
    print("|---|" + "---:|" * (2 * len(columns) + 1) + "---|")
    speedups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for view, m in sorted(views.items(), key=lambda item: _natural(item[0])):
        rec = m.get(("recompute", "-"))
        times = [m.get(column) for column in columns]
        if rec is None or not any(times):
            continue
        for column, t in zip(columns, times):
            if t:
                speedups[column].append(rec / t)
        cells = [f"{t * 1e3:.1f}" if t else "-" for t in times] + [f"{rec * 1e3:.1f}"] \
            + [f"{rec / t:.1f}x" if t else "-" for t in times]
        print(f"| {view} | {' | '.join(cells)} | {m['strategy']} |")
    rebuilt = {key: n for key, n in rebuilt_rounds.items() if n[0]}
    if rebuilt:
        print("\nRounds in which auto rebuilt the view instead of maintaining it: " + ", ".join(
            f"{view} {n}/{rounds} ({scenarios[s]})" for (view, s), (n, rounds) in sorted(
                rebuilt.items(), key=lambda item: (_natural(item[0][0]), item[0][1]))) + ".")
    if bare:
        print("\nBare DELETE of the same rows in plain DuckDB, without views: " + ", ".join(
            f"{bare[s] * 1e3:.1f} ms ({label})" for s, label in scenarios.items() if s in bare) + ".")
    for method in methods:
        found = [(s, speedups[(method, s)]) for s in scenarios if speedups[(method, s)]]
        if found:
            print(f"\nMedian speedup over ivm recompute, {heading[method]}: " + ", ".join(
                f"**{statistics.median(values):.1f}x** {scenarios[s]} ({len(values)} views)" for s, values in found)
                + ".")


if __name__ == "__main__":
    main(sys.argv[1])
