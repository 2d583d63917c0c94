"""The 22 TPC-H queries (examples/tpch/queries.sql) as maintained views: every one is incremental, and after
each deletion every view equals the same query run by a plain DuckDB connection on which the same DELETEs
were applied (an oracle that shares no code with ivm).

Deletions come as a fixed cascade (an order's lineitems then the order, customers then their orders, parts
with their partsupp and lineitems, suppliers, a nation, a region) and as hypothesis-drawn sequences over
every table. ``IVM_DIFF_EXAMPLES=5 pytest tests/test_tpch.py`` draws five times as many.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ivm
from standard_queries import Workload, assert_incremental_and_selecting, check_deletions, deletion

sys.path.insert(0, str(Path(__file__).parents[1] / "examples" / "tpch"))
import tpch_data as tpch  # noqa: E402

ORDERS = 6000  # scale factor 0.004: every query but Q18 selects rows at this size
SCALE = float(os.environ.get("IVM_DIFF_EXAMPLES", "1"))
# Q18 with a lower quantity threshold: the standard 300 selects no order at this scale (nor ~1 in 25,000
# at any scale), so this variant keeps its IN-over-HAVING path busy.
EXTRA = "CREATE VIEW q18_small AS " + dict(tpch.query_statements())["q18"].split(" AS ", 1)[1].replace(
    "SUM(l_quantity) > 300", "SUM(l_quantity) > 200")

CASCADE = [
    ("lineitem", "l_orderkey % 97 = 3"),  # an order's children first, then the order
    ("orders", "o_orderkey % 97 = 3"),
    ("customer", "c_custkey % 31 = 5"),  # a customer, then (left dangling) their orders
    ("orders", "o_custkey % 31 = 5"),
    ("partsupp", "ps_partkey % 17 = 2"),
    ("part", "p_partkey % 17 = 2"),
    ("lineitem", "l_partkey % 17 = 2"),
    ("supplier", "s_suppkey % 7 = 1"),
    ("lineitem", "l_quantity > 45"),
    ("orders", "o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey HAVING SUM(l_quantity) > 200)"),
    ("customer", "c_acctbal > 5000 AND c_custkey % 3 = 0"),  # customers without orders: Q13, Q22
    ("nation", "n_name = 'GERMANY'"),
    ("supplier", "s_comment LIKE '%Complaints%'"),
    ("region", "r_name = 'EUROPE'"),
    ("lineitem", "l_shipdate < DATE '1995-06-01'"),
]

VIEWS = tpch.query_statements() + [("q18_small", EXTRA)]
WORKLOAD = Workload(
    sources=tpch.source_sql(ORDERS), views=VIEWS,
    keys={"region": "r_regionkey", "nation": "n_nationkey", "supplier": "s_suppkey", "customer": "c_custkey",
          "part": "p_partkey", "partsupp": "ps_partkey", "orders": "o_orderkey", "lineitem": "l_orderkey"},
    values={"supplier": "s_acctbal", "customer": "c_acctbal", "part": "p_size", "partsupp": "ps_availqty",
            "orders": "o_totalprice", "lineitem": "l_quantity"},
    parents={"orders": ("customer", "o_custkey", "c_custkey"), "lineitem": ("part", "l_partkey", "p_partkey"),
             "partsupp": ("supplier", "ps_suppkey", "s_suppkey"), "customer": ("nation", "c_nationkey", "n_nationkey"),
             "supplier": ("nation", "s_nationkey", "n_nationkey"), "part": ("partsupp", "p_partkey", "ps_partkey")})


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpch") / "tpch.duckdb"
    with ivm.connect(path) as db:
        tpch.load(db, ORDERS)
        db.deploy(tpch.QUERIES.read_text() + ";\n" + EXTRA)
    return path


def test_every_query_is_maintained_incrementally(deployed):
    with ivm.connect(deployed) as db:
        assert_incremental_and_selecting(db, WORKLOAD, may_be_empty={"q18"})


def test_cascade_keeps_every_query_equal_to_plain_duckdb(deployed, tmp_path):
    check_deletions(WORKLOAD, deployed, CASCADE, tmp_path)


@settings(max_examples=max(1, int(4 * SCALE)), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(deletion(WORKLOAD), min_size=2, max_size=4))
def test_drawn_deletions_keep_every_query_equal_to_plain_duckdb(deployed, tmp_path, steps):
    check_deletions(WORKLOAD, deployed, steps, tmp_path)
