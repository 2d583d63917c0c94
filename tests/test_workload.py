"""The analytics workload (examples/analytics/views.sql: 18 views over six tables) stays equal to a fresh
recompute while customers are forgotten together with their orders and returns, products and a region
are removed, and random orders are deleted; and no view is maintained by the recompute fallback.

The same views are timed at 1M orders in bench/test_bench_workload.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import ivm

sys.path.insert(0, str(Path(__file__).parents[1] / "examples" / "analytics"))
import data as workload  # noqa: E402

ORDERS = 4000

SCENARIO = [  # a right-to-be-forgotten request: children first, then the parents
    ("returns", "oid IN (SELECT oid FROM orders WHERE cid % 97 = 3)"),
    ("orders", "cid % 97 = 3"),
    ("customers", "id % 97 = 3"),
    ("orders", "hash(oid) % 1000 < 10"),  # 1% of the orders, spread over the table
    ("products", "id % 13 = 0"),  # their orders lose their product: they leave the inner joins
    ("regions", "id = 7"),
    ("returns", "reason = 'late'"),
    ("orders", "amount > 900"),  # the biggest orders: the top-k views refill from below
]


@pytest.fixture(scope="module")
def db():
    database = ivm.connect(":memory:")
    workload.load(database, ORDERS)
    database.deploy(workload.VIEWS.read_text())
    yield database
    database.close()


def test_every_view_is_incremental(db):
    assert len(db.plans) >= 15
    for name in db.plans:
        explained = db.explain(name)
        assert "FALLBACK" not in explained, explained.splitlines()[0]


def test_deletions_keep_every_view_equal_to_a_recompute(db):
    assert db.verify()["ok"]
    for table, where in SCENARIO:
        report = db.delete(table, where)
        assert report["deleted_rows"] > 0, (table, where)
        verified = db.verify()
        wrong = [name for name, view in verified["views"].items() if not view["ok"]]
        assert not wrong, f"after deleting from {table} where {where}: {wrong} differ from a recompute"
        assert all(view["strategy"] == "incremental" for view in report["views"].values())
