"""Turn a pytest-benchmark JSON file into the README's table: medians and ratios per group.

    python bench/report.py bench/results.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

METHODS = ["incremental", "recompute", "duckdb_ctas", "bare_delete"]


def _ms(m: dict[str, float], method: str) -> str:
    return f"{m[method] * 1e3:.1f}" if method in m else "-"


def _ratio(m: dict[str, float], top: str, bottom: str, digits: int) -> str:
    if top not in m or bottom not in m:
        return "-"
    return f"{m[top] / m[bottom]:.{digits}f}x"


def main(path: str) -> None:
    data = json.load(open(path))
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if not {"view", "rows", "deletion", "method"} <= set(info):
            continue  # another benchmark file's shape (bench/test_bench_purge.py reports its own)
        groups[(info["view"], info["rows"], info["deletion"])][info["method"]] = bench["stats"]["median"]
    machine = data.get("machine_info", {})
    print(f"Medians in ms; {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, run {data.get('datetime', '?')[:16]}.\n")
    print("| view | source rows | deletion | incremental | ivm recompute | plain CTAS | bare DELETE "
          "| recompute / incremental | CTAS / incremental | incremental / bare DELETE |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for (view, rows, deletion), m in sorted(groups.items()):
        if "incremental" not in m:
            continue
        cells = " | ".join(_ms(m, k) for k in METHODS)
        print(f"| {view} | {rows:,} | {deletion.replace('_', ' ')} | {cells} | {_ratio(m, 'recompute', 'incremental', 0)} "
              f"| {_ratio(m, 'duckdb_ctas', 'incremental', 1)} | {_ratio(m, 'incremental', 'bare_delete', 1)} |")


if __name__ == "__main__":
    main(sys.argv[1])
