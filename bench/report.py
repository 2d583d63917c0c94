"""Turn a pytest-benchmark JSON file into the README's table: medians and ratios per group.

    python bench/report.py bench/results.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

METHODS = ["incremental", "incremental_indexed", "recompute", "duckdb_ctas", "bare_delete", "bare_delete_indexed"]


def main(path: str) -> None:
    data = json.load(open(path))
    machine = data.get("machine_info", {})
    print(f"Medians in ms; {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, run {data.get('datetime', '?')[:16]}.\n")
    ml = [b for b in data["benchmarks"] if b["extra_info"].get("suite") == "ml"]
    if ml:
        ml_table(ml)
    core = [b for b in data["benchmarks"] if b["extra_info"].get("suite") != "ml"]
    if core:
        core_table(core)


def ml_table(benchmarks: list[dict]) -> None:
    """Feature-set pipelines: incremental deletion, export of X/y (same on both paths), full rerun."""
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    cost = {}
    export = {}
    for bench in benchmarks:
        info = bench["extra_info"]
        groups[(info["pipeline"], info["rows"])][info["method"]] = bench["stats"]["median"]
        cost[info["pipeline"]] = info["udf_cost_per_row"]
        if info["method"] == "export":
            export[info["rows"]] = bench["stats"]["median"]
    print("| pipeline | prepared rows | UDF cost per row | incremental deletion | export X, y | full rerun "
          "| rerun / deletion | rerun / (deletion + export) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (pipeline, rows), m in sorted(groups.items()):
        if "incremental" not in m or "full_rerun" not in m:
            continue
        inc, rerun, exp = m["incremental"], m["full_rerun"], export.get(rows)
        unit = f"{cost[pipeline] * 1e6:.0f} µs" if cost[pipeline] else "~0"
        exp_cell = f"{exp * 1e3:.1f}" if exp is not None else "?"
        with_export = f"{rerun / (inc + exp):.0f}x" if exp is not None else "?"
        print(f"| {pipeline} | {rows:,} | {unit} | {inc * 1e3:.1f} | {exp_cell} | {rerun * 1e3:,.0f} "
              f"| {rerun / inc:,.0f}x | {with_export} |")
    print()


def _ms(m: dict[str, float], method: str) -> str:
    return f"{m[method] * 1e3:.1f}" if method in m else "-"


def _ratio(m: dict[str, float], top: str, bottom: str, digits: int) -> str:
    if top not in m or bottom not in m:
        return "-"
    return f"{m[top] / m[bottom]:.{digits}f}x"


def core_table(benchmarks: list[dict]) -> None:
    """Core views: incremental deletion vs recompute vs plain CTAS vs a bare DELETE (missing methods: -)."""
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    for bench in benchmarks:
        info = bench["extra_info"]
        if not {"view", "rows", "deletion", "method"} <= set(info):
            continue  # another benchmark file's shape (bench/test_bench_purge.py reports its own)
        groups[(info["view"], info["rows"], info["deletion"])][info["method"]] = bench["stats"]["median"]
    print("| view | source rows | deletion | incremental | incremental, key indexed | ivm recompute | plain CTAS "
          "| bare DELETE | bare DELETE, key indexed | recompute / incremental | recompute / incremental (indexed) "
          "| CTAS / incremental | incremental / bare DELETE | same, both indexed |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (view, rows, deletion), m in sorted(groups.items()):
        if "incremental" not in m:
            continue
        cells = " | ".join(_ms(m, k) for k in METHODS)
        print(f"| {view} | {rows:,} | {deletion.replace('_', ' ')} | {cells} | {_ratio(m, 'recompute', 'incremental', 0)} "
              f"| {_ratio(m, 'recompute', 'incremental_indexed', 0)} | {_ratio(m, 'duckdb_ctas', 'incremental', 1)} "
              f"| {_ratio(m, 'incremental', 'bare_delete', 1)} "
              f"| {_ratio(m, 'incremental_indexed', 'bare_delete_indexed', 1)} |")


if __name__ == "__main__":
    main(sys.argv[1])
