"""Per-view workload benchmarks (the analytics workload, TPC-H): each view deployed alone in a copy of one
sources database, then incremental deletions and ``ivm recompute`` of that view timed side by side.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Mapping

import ivm

Deletions = Callable[[str, int], "list[tuple[str, str]]"]
ROUNDS = 5


def deployer(sources: Path, statements: Mapping[str, str]) -> Callable[[str], Path]:
    """``get(view)``: a database file with only ``view`` deployed over ``sources`` (built once per view)."""
    cache: dict[str, Path] = {}

    def get(view: str) -> Path:
        if view not in cache:
            path = sources.with_name(f"{view}.duckdb")
            shutil.copy(sources, path)
            with ivm.connect(path) as db:
                db.deploy(statements[view])
            cache[view] = path
        return cache[view]
    return get


def measure(benchmark, deployed: Path, work: Path, view: str, method: str, scenario: str, deletions: Deletions,
            scenarios: Mapping[str, str], info: Mapping[str, object]) -> None:
    """``incremental``: ``db.delete`` of scenario round k (rows no earlier round deleted), after one warm-up
    round that renders and caches the view's SQL templates, then ``verify``; ``auto``: the same with
    ``strategy="auto"`` (the warm-up round is incremental: it is the measurement auto estimates from; the
    number of rounds that rebuilt the view goes to ``rebuilt_rounds``); ``recompute``: ``db.recompute()``
    after one deletion (the state it starts from does not matter)."""
    shutil.copy(deployed, work)
    db = ivm.connect(work)
    try:
        strategy = db.explain(view).splitlines()[0].split(": ", 1)[1]
        benchmark.group = view
        benchmark.extra_info.update(view=view, method=method, scenario=scenario, strategy=strategy,
                                    label=scenarios.get(scenario, scenario), **info)
        warm_up = deletions(scenario if method != "recompute" else next(iter(scenarios)), 999)
        for table, where in warm_up:
            db.delete(table, where)
        if method == "recompute":
            benchmark.pedantic(db.recompute, rounds=3, iterations=1)
            return
        rounds = iter(range(ROUNDS))
        removed, rebuilt = [], set()
        mode = "auto" if method == "auto" else "incremental"

        def run(k: int) -> None:
            for table, where in deletions(scenario, k):
                report = db.delete(table, where, strategy=mode)
                removed.append(report["deleted_rows"])
                if report["views"][view]["rebuilt"]:
                    rebuilt.add(k)

        benchmark.pedantic(run, setup=lambda: ((next(rounds),), {}), rounds=ROUNDS, iterations=1)
        benchmark.extra_info["deleted_rows_per_round"] = sum(removed) / ROUNDS
        benchmark.extra_info["rebuilt_rounds"] = len(rebuilt)
        assert db.verify()["ok"], f"{view} differs from a recompute after {scenario}"
    finally:
        db.close()
