"""The 22 TPC-H queries (examples/tpch/queries.sql) maintained under deletion: per query, incremental
deletion against ``ivm recompute`` of that query, side by side in one run.

    pytest bench/test_bench_tpch.py --benchmark-enable --benchmark-json=bench/results_tpch.json
    python bench/report_workload.py bench/results_tpch.json

``IVM_BENCH_TPCH_ORDERS`` sets the size (default 250,000 orders: about 1,000,000 lineitems, the largest
table, i.e. scale factor 1/6 of TPC-H's seeded data as examples/tpch/tpch_data.py generates it). Each query
is deployed alone in a copy of the same database.

Scenarios (each round deletes rows no earlier round deleted):

* ``lineitem_0.1pct``: 0.1% of the lineitems, spread over the table;
* ``orders_0.1pct``: 0.1% of the orders with their lineitems (children first): two deletions, timed together.

Methods: ``bare_delete`` (the same DELETEs on plain DuckDB tables, without views or ivm state: the floor
any deletion pays; 5 rounds), ``incremental`` (``db.delete``, one transaction per deletion, after one warm-up deletion that renders
the query's SQL templates; 5 rounds), ``auto`` (the same with ``strategy="auto"``: rebuild the query when the
warm-up deletion measured maintenance dearer than the rebuild measured at deploy) and ``recompute``
(``db.recompute()``; 3 rounds). After the incremental
rounds ``db.verify()`` compares the view with a fresh recompute.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb
import pytest

import ivm
from per_view import ROUNDS, deployer, measure

sys.path.insert(0, str(Path(__file__).parents[1] / "examples" / "tpch"))
import tpch_data as tpch  # noqa: E402

ORDERS = int(os.environ.get("IVM_BENCH_TPCH_ORDERS", "250000"))
QUERIES = tpch.query_statements()
SCENARIOS = {"lineitem_0.1pct": "0.1% of lineitems", "orders_0.1pct": "0.1% of orders with their lineitems"}


def deletions(scenario: str, k: int) -> list[tuple[str, str]]:
    if scenario == "lineitem_0.1pct":
        return [("lineitem", f"hash(l_orderkey * 8 + l_linenumber) % 1000 = {k}")]
    return [("lineitem", f"hash(l_orderkey + 7) % 1000 = {k}"), ("orders", f"hash(o_orderkey + 7) % 1000 = {k}")]


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ivm-tpch") / "sources.duckdb"
    with ivm.connect(path) as db:
        tpch.load(db, ORDERS)
    return path


@pytest.fixture(scope="session")
def deployed(sources):
    return deployer(sources, dict(QUERIES))


CASES = [(q, m, s) for q, _ in QUERIES for m in ("incremental", "auto") for s in SCENARIOS] \
    + [(q, "recompute", "-") for q, _ in QUERIES]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_bare_delete(benchmark, tmp_path, scenario):
    """The floor: the same DELETEs in plain DuckDB tables (lineitem and orders only; no views, no ivm state)."""
    con = duckdb.connect(str(tmp_path / "bare.duckdb"))
    sql = tpch.source_sql(ORDERS)
    for table in ("lineitem", "orders"):
        con.execute(f"CREATE TABLE {table} AS {sql[table]}")
    con.execute("CHECKPOINT")
    benchmark.group = "bare DELETE"
    benchmark.extra_info.update(view="-", method="bare_delete", scenario=scenario, size=ORDERS,
                                size_label=f"{ORDERS:,} orders", strategy="-", label=SCENARIOS[scenario])
    for table, where in deletions(scenario, 999):
        con.execute(f"DELETE FROM {table} WHERE {where}")
    rounds = iter(range(ROUNDS))

    def run(k: int) -> None:
        con.begin()
        for table, where in deletions(scenario, k):
            con.execute(f"DELETE FROM {table} WHERE {where}")
        con.commit()

    try:
        benchmark.pedantic(run, setup=lambda: ((next(rounds),), {}), rounds=ROUNDS, iterations=1)
    finally:
        con.close()


@pytest.mark.parametrize("query,method,scenario", CASES, ids=[f"{q}-{m}-{s}" for q, m, s in CASES])
def test_tpch(benchmark, deployed, tmp_path, query, method, scenario):
    measure(benchmark, deployed(query), tmp_path / "work.duckdb", query, method, scenario, deletions, SCENARIOS,
            {"size": ORDERS, "size_label": f"{ORDERS:,} orders"})
