"""The analytics workload (examples/analytics/views.sql: 18 views over six tables, joins over 5 tables,
outer joins, anti/semi joins, correlated subqueries, windows, set operations, top-k): per view, incremental
deletion against ``ivm recompute`` of that view, side by side in one run.

    pytest bench/test_bench_workload.py --benchmark-enable --benchmark-json=bench/results_workload.json
    python bench/report_workload.py bench/results_workload.json

``IVM_BENCH_ORDERS`` sets the size (default 1,000,000 orders, the largest table; customers are a tenth,
products a hundredth, returns a twentieth). Each view is deployed alone in a copy of the same database.

Scenarios (each round deletes rows no earlier round deleted):

* ``orders_0.1pct``: 0.1% of the orders, spread over the table (``hash(oid + 7777) % 1000 = k``);
* ``forget_customers``: a right-to-be-forgotten request for 0.1% of the customers: their returns, their
  orders (about 0.1% of the orders), then the customers: three deletions, timed together.

Methods: ``incremental`` (``db.delete``: the source DELETE and the maintenance of the view, one transaction
per deletion; timed after one warm-up deletion, which renders and caches the view's SQL templates) and
``recompute`` (``db.recompute()``: rebuilding the view's stages with lineage and indexes). After the
incremental rounds ``db.verify()`` compares the view with a fresh recompute.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import ivm
from per_view import deployer, measure

sys.path.insert(0, str(Path(__file__).parents[1] / "examples" / "analytics"))
import data as workload  # noqa: E402

ORDERS = int(os.environ.get("IVM_BENCH_ORDERS", "1000000"))
CUSTOMERS = max(ORDERS // 10, 10)
VIEWS = workload.view_statements()
SCENARIOS = {"orders_0.1pct": "0.1% of orders", "forget_customers": "forget 0.1% of customers"}


def deletions(scenario: str, k: int) -> list[tuple[str, str]]:
    if scenario == "orders_0.1pct":
        return [("orders", f"hash(oid + 7777) % 1000 = {k}")]
    group = f"% 1000 = {k}"  # 0.1% of the customers, and their orders (cid is hashed over the orders)
    return [("returns", f"oid IN (SELECT oid FROM orders WHERE cid {group})"),
            ("orders", f"cid {group}"),
            ("customers", f"id {group}")]


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ivm-workload") / "sources.duckdb"
    with ivm.connect(path) as db:
        workload.load(db, ORDERS)
    return path


@pytest.fixture(scope="session")
def deployed(sources):
    return deployer(sources, dict(VIEWS))


CASES = [(v, m, s) for v, _ in VIEWS for m in ("incremental", "auto") for s in SCENARIOS] \
    + [(v, "recompute", "-") for v, _ in VIEWS]


@pytest.mark.parametrize("view,method,scenario", CASES, ids=[f"{v}-{m}-{s}" for v, m, s in CASES])
def test_workload(benchmark, deployed, tmp_path, view, method, scenario):
    measure(benchmark, deployed(view), tmp_path / "work.duckdb", view, method, scenario, deletions, SCENARIOS,
            {"orders": ORDERS, "size_label": f"{ORDERS:,} orders"})
