"""Incremental deletion vs full recompute vs a bare DELETE, side by side in one run.

    pytest bench/ --benchmark-enable --benchmark-json=bench/results.json && python bench/report.py bench/results.json

Groups are named ``<view>-<rows>-<deletion>``; in each group the methods are
``incremental`` (ivm delete: source DELETE + maintenance of the view, one transaction),
``recompute`` (ivm recompute: rebuild the view with its lineage and indexes),
``duckdb_ctas`` (plain CREATE TABLE AS of the view query into the database file, no ivm state), and
``bare_delete`` (the same DELETE on a database with no views), and, for the 10-row deletions (by ``oid IN``),
``incremental_indexed`` and ``bare_delete_indexed``: the same with an index on the deletion key ``orders.oid``
(``ivm index DB orders oid``; a plain ``CREATE INDEX`` for the bare DELETE).
"""
from __future__ import annotations

import itertools
import random

import duckdb
import pytest

import ivm
from conftest import SIZES, VIEWS, source_sql

DELETIONS = ["10_rows", "1_percent"]
ROUNDS = {"10_rows": 15, "1_percent": 3}
# Deletions run on a database that has already served two (different) deletions: the first ones after
# opening the file also load index and column blocks into DuckDB's buffer pool and render ivm's statement
# templates. bench/test_bench_cold.py measures that first deletion on its own.
WARMUP = 2


def predicates(rows: int, deletion: str):
    """An endless supply of predicates, each hitting rows not deleted before."""
    rng = random.Random(42)
    if deletion == "10_rows":
        while True:
            ids = rng.sample(range(rows), 10)
            yield f"oid IN ({', '.join(map(str, ids))})"
    for k in itertools.count():
        yield f"oid % 100 = {k % 100}"


def view_query(view: str) -> str:
    return VIEWS[view].split(" AS", 1)[1]


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("deletion", DELETIONS)
@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("method", ["incremental", "incremental_indexed", "recompute", "duckdb_ctas", "bare_delete",
                                    "bare_delete_indexed"])
def test_deletion(benchmark, fresh_copy, view, rows, deletion, method):
    if method.endswith("_indexed") and deletion != "10_rows":
        pytest.skip("an index on the key helps = and IN predicates only")
    benchmark.group = f"{view}-{rows}-{deletion}"
    benchmark.extra_info.update(view=view, rows=rows, deletion=deletion, method=method)
    supply = predicates(rows, deletion)
    rounds = ROUNDS[deletion] if method != "recompute" else 3

    if method.startswith("bare_delete"):
        con = duckdb.connect(str(fresh_copy(view, rows).with_name("bare.duckdb")))
        con.execute(f"CREATE TABLE orders AS {source_sql(rows)['orders']}")
        if method == "bare_delete_indexed":
            con.execute("CREATE INDEX orders_oid ON orders (oid)")
        con.execute("CHECKPOINT")

        def setup():
            return (next(supply),), {}

        benchmark.pedantic(lambda p: con.execute(f"DELETE FROM orders WHERE {p}"), setup=setup,
                           rounds=rounds, iterations=1, warmup_rounds=WARMUP)
        con.close()
        return

    db = ivm.connect(fresh_copy(view, rows))
    if method == "incremental_indexed":
        db.index("orders", "oid")
        db.con.execute("CHECKPOINT")
    if method.startswith("incremental"):
        def setup():
            return (next(supply),), {}
        benchmark.pedantic(lambda p: db.delete("orders", p), setup=setup, rounds=rounds, iterations=1,
                           warmup_rounds=WARMUP)
        assert db.verify()["ok"]
    elif method == "recompute":
        db.delete("orders", next(supply))  # the state the recompute starts from does not matter
        benchmark.pedantic(db.recompute, rounds=rounds, iterations=1)
    else:
        query = view_query(view)
        # persisted in the database file, as ivm's own tables are (a TEMP table would skip the WAL)
        benchmark.pedantic(lambda: db.con.execute(f"CREATE OR REPLACE TABLE plain_recompute AS {query}"),
                           rounds=rounds, iterations=1)
    db.close()
