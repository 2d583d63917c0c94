"""The credit-card example at 10k, 100k and 1M customers (10 mails each), side by side in one run:

* ``script``: rerunning the original messy ``pipeline.py`` (in this process, on the CSV files);
* ``duckdb_rerun``: rebuilding every view of the verified rewrite (what the script computes) with plain DuckDB
  ``CREATE TABLE AS`` in the database file, from the current sources (no lineage, no indexes);
* ``ivm_recompute``: ``ivm recompute`` (the same, with ivm's lineage columns and indexes);
* ``incremental_10``: ``ivm delete`` of 10 customers (one transaction: the source rows and every view);
* ``incremental_10_with_mails``: the same 10 customers and then their mails from the mails source;
* ``incremental_1pct``: ``ivm delete`` of 1% of the customers.

    pytest bench/test_bench_creditcard.py --benchmark-enable --benchmark-json=bench/creditcard.json
    python bench/report_creditcard.py bench/creditcard.json --plot bench/creditcard.png

Sizes: ``IVM_BENCH_CC_SIZES=10000,100000`` (default 10000,100000,1000000). Generated files and built databases
are cached in ``IVM_BENCH_CACHE`` (default: ``<tmp>/ivm-bench-cache``), keyed by size and seed; each test
works on a copy of the database.
"""
from __future__ import annotations

import hashlib
import os
import random
import runpy
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlglot

import ivm
from ivm import compare, demo

SIZES = [int(s) for s in os.environ.get("IVM_BENCH_CC_SIZES", "10000,100000,1000000").split(",")]
CACHE = Path(os.environ.get("IVM_BENCH_CACHE", Path(tempfile.gettempdir()) / "ivm-bench-cache"))
REWRITE = demo.EXAMPLE / "rewrite"
SEED = 0
METHODS = ["script", "duckdb_rerun", "ivm_recompute", "incremental_10", "incremental_10_with_mails",
           "incremental_1pct"]


def _rounds(method: str, size: int) -> int:
    if method.startswith("incremental_10"):
        return 5
    return 1 if size >= 1_000_000 else 3


def data(size: int) -> Path:
    folder = CACHE / f"creditcard-{size}-{SEED}"
    if not (folder / "done").exists():
        demo.generator().generate(folder, customers=size, seed=SEED)
        shutil.copy(demo.EXAMPLE / "pipeline.py", folder / "pipeline.py")
        (folder / "done").write_text("ok\n")
    return folder


def database(size: int) -> Path:
    folder = data(size)
    path = folder / "creditcard.duckdb"
    marker = folder / "built"
    views = hashlib.sha256(demo.view_sql(REWRITE, monitoring=False).encode()).hexdigest()
    if not marker.exists() or marker.read_text().strip() != views:
        path.unlink(missing_ok=True)
        db, _ = demo.deploy(path, folder, REWRITE, monitoring=False)
        db.con.execute("CHECKPOINT")
        db.close()
        marker.write_text(views + "\n")
    return path


@pytest.fixture
def copy(tmp_path):
    def make(size: int) -> Path:
        target = tmp_path / "work.duckdb"
        shutil.copy(database(size), target)
        return target
    return make


def plain_statements() -> list[str]:
    """Every view as ``CREATE OR REPLACE TABLE plain_<name> AS ...`` reading the earlier plain tables."""
    statements = [s for s in sqlglot.parse(demo.view_sql(REWRITE, monitoring=False), read="duckdb") if s is not None]
    names = [s.this.name for s in statements]
    result = []
    for statement in statements:
        statement.set("kind", "TABLE")
        statement.set("replace", True)
        for table in statement.expression.find_all(sqlglot.exp.Table):
            if table.name in names:
                table.set("this", sqlglot.exp.to_identifier(f"plain_{table.name}"))
        statement.this.set("this", sqlglot.exp.to_identifier(f"plain_{statement.this.name}"))
        result.append(statement.sql(dialect="duckdb"))
    return result


def customer_batches(size: int):
    rng = random.Random(42)
    while True:
        yield rng.sample(range(size), 10)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("method", METHODS)
def test_creditcard(benchmark, copy, method, size):
    benchmark.group = f"creditcard-{size}"
    benchmark.extra_info.update(example="creditcard", customers=size, mails=size * 10, method=method)
    rounds = _rounds(method, size)
    if method == "script":
        folder = data(size)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            namespace = benchmark.pedantic(lambda: runpy.run_path("pipeline.py", run_name="__main__"),
                                           rounds=rounds, iterations=1)
        finally:
            os.chdir(cwd)
        benchmark.extra_info["training_rows"] = len(namespace["rows"])
        return
    db = ivm.connect(copy(size), udfs=REWRITE / "udfs.py")
    try:
        if method == "duckdb_rerun":
            statements = plain_statements()
            benchmark.pedantic(lambda: [db.con.execute(s) for s in statements], rounds=rounds, iterations=1)
            equal, _ = compare.bags_equal(db.con, "SELECT * FROM training_rows", "SELECT * FROM plain_training_rows")
            assert equal
        elif method == "ivm_recompute":
            benchmark.pedantic(db.recompute, rounds=rounds, iterations=1)
        elif method == "incremental_1pct":
            residues = iter(range(100))
            benchmark.pedantic(lambda p: db.delete("customers", p), rounds=rounds, iterations=1,
                               setup=lambda: ((f"customer_id % 100 = {next(residues)}",), {}))
        else:
            batches = customer_batches(size)

            def setup():
                ids = next(batches)
                listed = ", ".join(map(str, ids))
                emails = [r[0] for r in db.con.execute(
                    f"SELECT customer_email FROM customers WHERE customer_id IN ({listed})").fetchall()]
                return (ids, emails), {}

            def delete(ids, emails):
                db.delete("customers", f"customer_id IN ({', '.join(map(str, ids))})")
                if method == "incremental_10_with_mails":
                    db.delete("mails", "customer_email IN (" + ", ".join(f"'{e}'" for e in emails) + ")")

            benchmark.pedantic(delete, setup=setup, rounds=rounds, iterations=1)
        if method.startswith("incremental") and size <= 100_000:
            assert db.verify()["ok"]
    finally:
        db.close()

