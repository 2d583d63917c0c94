"""Turn a pytest-benchmark JSON file into the README's table: medians and ratios per group.

    python bench/report.py bench/results.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

METHODS = ["incremental", "recompute", "duckdb_ctas", "bare_delete"]


def main(path: str) -> None:
    data = json.load(open(path))
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        groups[(info["view"], info["rows"], info["deletion"])][info["method"]] = bench["stats"]["median"]
    machine = data.get("machine_info", {})
    print(f"Medians in ms; {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, run {data.get('datetime', '?')[:16]}.\n")
    print("| view | source rows | deletion | incremental | ivm recompute | plain CTAS | bare DELETE "
          "| recompute / incremental | CTAS / incremental | incremental / bare DELETE |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for (view, rows, deletion), m in sorted(groups.items()):
        if not all(k in m for k in METHODS):
            continue
        inc = m["incremental"]
        cells = " | ".join(f"{m[k] * 1e3:.1f}" for k in METHODS)
        print(f"| {view} | {rows:,} | {deletion.replace('_', ' ')} | {cells} | {m['recompute'] / inc:.0f}x "
              f"| {m['duckdb_ctas'] / inc:.1f}x | {inc / m['bare_delete']:.1f}x |")


if __name__ == "__main__":
    main(sys.argv[1])
