"""Per view of the analytics workload: strategy, incremental and recompute medians, speedups.

    python bench/report_workload.py bench/results_workload.json
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    data = json.load(open(path))
    views: dict[str, dict] = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        views[info["view"]][(info["method"], info["scenario"])] = bench["stats"]["median"]
        views[info["view"]]["strategy"] = info["strategy"]
        views[info["view"]]["orders"] = info["orders"]
    machine = data.get("machine_info", {})
    orders = next(iter(views.values()))["orders"] if views else 0
    print(f"{orders:,} orders; medians in ms; {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, run {data.get('datetime', '?')[:16]}.\n")
    print("| view | incremental, 0.1% of orders | incremental, forget 0.1% of customers | ivm recompute "
          "| speedup (0.1% orders) | speedup (forget) | strategy |")
    print("|---|---:|---:|---:|---:|---:|---|")
    speedups, forget_speedups = [], []
    for view, m in sorted(views.items()):
        inc, forget, rec = m.get(("incremental", "orders_0.1pct")), m.get(("incremental", "forget_customers")), \
            m.get(("recompute", "-"))
        if inc is None or rec is None:
            continue
        speedups.append(rec / inc)
        cells = [f"{inc * 1e3:.1f}", f"{forget * 1e3:.1f}" if forget else "-", f"{rec * 1e3:.1f}",
                 f"{rec / inc:.1f}x", f"{rec / forget:.1f}x" if forget else "-"]
        if forget:
            forget_speedups.append(rec / forget)
        print(f"| {view} | {' | '.join(cells)} | {m['strategy']} |")
    if speedups:
        print(f"\nMedian speedup over ivm recompute: {statistics.median(speedups):.1f}x deleting 0.1% of the orders"
              + (f", {statistics.median(forget_speedups):.1f}x forgetting 0.1% of the customers with their orders "
                 "and returns" if forget_speedups else "") + f" ({len(speedups)} views).")


if __name__ == "__main__":
    main(sys.argv[1])
