"""Seeded data for the benchmarks: ``orders`` (the largest source) and ``customers`` (a tenth of it).

Customer ids are hashed over the orders table, so the rows of one customer are spread over the whole file
and zone maps cannot make a deletion look cheaper than it is.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

import ivm

SIZES = [100_000, 1_000_000]

VIEWS = {
    "join_filter_project": """
        CREATE VIEW v AS
        SELECT o.oid, o.amount * o.qty AS total, c.name, c.country
        FROM orders o JOIN customers c ON o.cid = c.id
        WHERE o.qty > 0 AND c.country <> 'IT'""",
    "join_group_by": """
        CREATE VIEW v AS
        SELECT c.country, c.tier, COUNT(*) AS n, SUM(o.amount) AS revenue, AVG(o.amount) AS mean_amount,
               MAX(o.amount) AS largest
        FROM orders o JOIN customers c ON o.cid = c.id
        GROUP BY c.country, c.tier""",
}


def source_sql(rows: int) -> dict[str, str]:
    return {
        "customers": f"SELECT i AS id, 'customer ' || i AS name, ['UK','DE','FR','US','IT'][1 + (i % 5)] AS country, "
                     f"(i % 3) AS tier FROM range({rows // 10}) r(i)",
        "orders": f"SELECT i AS oid, (hash(i) % {rows // 10})::BIGINT AS cid, "
                  f"((hash(i * 7) % 100000) / 100)::DECIMAL(10, 2) AS amount, (i % 7) AS qty FROM range({rows}) r(i)",
    }


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ivm-bench")


@pytest.fixture(scope="session")
def built(base_dir):
    """Build each (view, size) database once; tests copy the file so every test starts the same."""
    cache: dict[tuple[str, int], Path] = {}

    def get(view: str, rows: int) -> Path:
        key = (view, rows)
        if key not in cache:
            path = base_dir / f"{view}_{rows}.duckdb"
            maker = duckdb.connect()
            with ivm.connect(path) as db:
                for name, sql in source_sql(rows).items():
                    db.load(name, maker.sql(sql).to_arrow_table())
                db.deploy(VIEWS[view])
            cache[key] = path
        return cache[key]

    return get


@pytest.fixture
def fresh_copy(built, tmp_path):
    def copy(view: str, rows: int) -> Path:
        target = tmp_path / "work.duckdb"
        shutil.copy(built(view, rows), target)
        return target
    return copy
