"""The first deletion after opening the database file, as one `ivm delete` command does it.

    pytest bench/test_bench_cold.py --benchmark-enable --benchmark-json=bench/cold.json && python bench/report.py bench/cold.json

Each round copies the prepared database (not timed), then times open + delete 10 rows + close: ``incremental``
through ivm (plans are loaded, statement templates rendered, index blocks read from the file, and DuckDB
checkpoints the change into the file on close, indexes included), ``bare_delete`` the same DELETE with plain
DuckDB on a database holding only the source (no index). Compare with the warm numbers of
test_bench_core.py to see what a long-running process saves.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
import pytest

import ivm
from conftest import SIZES, VIEWS, source_sql

ROUNDS = 5


@pytest.fixture(scope="module")
def bare_database(base_dir):
    made: dict[int, str] = {}

    def get(rows: int) -> str:
        if rows not in made:
            path = base_dir / f"bare_{rows}.duckdb"
            con = duckdb.connect(str(path))
            con.execute(f"CREATE OR REPLACE TABLE orders AS {source_sql(rows)['orders']}")
            con.close()
            made[rows] = str(path)
        return made[rows]
    return get


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("method", ["incremental", "bare_delete"])
def test_first_deletion(benchmark, built, bare_database, tmp_path, view, rows, method):
    benchmark.group = f"{view}-{rows}-10_rows_cold"
    benchmark.extra_info.update(view=view, rows=rows, deletion="10 rows, cold", method=method)
    rng = random.Random(7)
    original = built(view, rows) if method == "incremental" else bare_database(rows)
    target = tmp_path / "cold.duckdb"

    def setup():
        shutil.copy(original, target)
        Path(f"{target}.wal").unlink(missing_ok=True)
        ids = ", ".join(map(str, rng.sample(range(rows), 10)))
        return (f"oid IN ({ids})",), {}

    def incremental(predicate):
        with ivm.connect(target) as db:
            db.delete("orders", predicate)

    def bare(predicate):
        con = duckdb.connect(str(target))
        con.execute(f"DELETE FROM orders WHERE {predicate}")
        con.close()

    benchmark.pedantic(incremental if method == "incremental" else bare, setup=setup, rounds=ROUNDS, iterations=1)
