"""TPC-DS queries (examples/tpcds/queries.sql) as maintained views: every query is incremental (ROLLUP as one
aggregate per grouping set over a maintained stage of its rows), and after each
deletion every view equals the same query run by a plain DuckDB connection on which the same DELETEs were
applied (an oracle that shares no code with ivm).

Deletions come as a fixed cascade (a customer's returns, sales and then the customer; customers whose sales
stay; addresses, items, days, a store, demographics, promotions, a warehouse; sales by value and by date)
and as hypothesis-drawn sequences over every table. ``IVM_DIFF_EXAMPLES=5 pytest tests/test_tpcds.py``
draws five times as many.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ivm
from helpers import bag_difference, fetch, kind_of

sys.path.insert(0, str(Path(__file__).parents[1] / "examples" / "tpcds"))
import tpcds_data as tpcds  # noqa: E402

TICKETS = 3000  # about 9,000 store_sales, 4,500 catalog_sales, 3,000 web_sales rows: every query selects rows
SCALE = float(os.environ.get("IVM_DIFF_EXAMPLES", "1"))
VIEWS = tpcds.query_statements()
# ROLLUP becomes one aggregate per grouping set over a stage holding its rows, and a UNION ALL of them:
# these queries must show that shape; every query must be incremental in every stage.
ROLLUP = {"q18", "q27", "q36"}

CASCADE = [
    ("store_returns", "sr_customer_sk % 23 = 4"),  # a customer's returns, then sales, then the customer
    ("store_sales", "ss_customer_sk % 23 = 4"),
    ("catalog_returns", "cr_returning_customer_sk % 23 = 4"),
    ("catalog_sales", "cs_bill_customer_sk % 23 = 4"),
    ("web_sales", "ws_bill_customer_sk % 23 = 4"),
    ("customer", "c_customer_sk % 23 = 4"),
    ("customer", "c_customer_sk % 17 = 3"),  # customers whose sales and returns stay (dangling)
    ("customer_address", "ca_state = 'GA'"),
    ("item", "i_item_sk % 13 = 5"),
    ("store_sales", "ss_item_sk % 13 = 5"),
    ("date_dim", "d_date BETWEEN DATE '2000-11-01' AND DATE '2000-11-15'"),
    ("store", "s_store_sk = 4"),
    ("customer_demographics", "cd_education_status = 'College' AND cd_demo_sk % 2 = 0"),
    ("household_demographics", "hd_buy_potential = 'Unknown'"),
    ("promotion", "p_channel_email = 'N' AND p_promo_sk % 3 = 0"),
    ("warehouse", "w_warehouse_sk = 2"),
    ("catalog_sales", "cs_ext_discount_amt > 3000"),  # the discounts q32 looks for
    ("web_sales", "ws_order_number % 5 = 0"),  # the baskets bought in every channel (q38, q87, q97)
    ("store_sales", "ss_sold_date_sk IN (SELECT d_date_sk FROM date_dim WHERE d_moy = 12)"),
    ("catalog_returns", "cr_order_number % 2 = 0"),
]

KEYS = {"date_dim": "d_date_sk", "item": "i_item_sk", "customer": "c_customer_sk",
        "customer_address": "ca_address_sk", "customer_demographics": "cd_demo_sk",
        "household_demographics": "hd_demo_sk", "store": "s_store_sk", "promotion": "p_promo_sk",
        "warehouse": "w_warehouse_sk", "store_sales": "ss_ticket_number", "store_returns": "sr_ticket_number",
        "catalog_sales": "cs_order_number", "catalog_returns": "cr_order_number", "web_sales": "ws_order_number"}
VALUES = {"item": "i_current_price", "customer": "c_birth_year", "customer_demographics": "cd_purchase_estimate",
          "date_dim": "d_dom", "store_sales": "ss_sales_price", "catalog_sales": "cs_ext_discount_amt",
          "web_sales": "ws_ext_discount_amt", "store_returns": "sr_return_amt",
          "catalog_returns": "cr_return_amt_inc_tax"}
PARENTS = {"store_sales": ("customer", "ss_customer_sk", "c_customer_sk"),
           "catalog_sales": ("item", "cs_item_sk", "i_item_sk"),
           "web_sales": ("customer", "ws_bill_customer_sk", "c_customer_sk"),
           "store_returns": ("store", "sr_store_sk", "s_store_sk"),
           "catalog_returns": ("customer", "cr_returning_customer_sk", "c_customer_sk"),
           "customer": ("customer_address", "c_current_addr_sk", "ca_address_sk"),
           "item": ("item", "i_manufact_id", "i_manufact_id")}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpcds") / "tpcds.duckdb"
    with ivm.connect(path) as db:
        tpcds.load(db, TICKETS)
        db.deploy(tpcds.QUERIES.read_text())
    return path


class Oracle:
    """The TPC-DS tables in a plain in-memory DuckDB, the queries as ordinary views."""

    def __init__(self):
        self.con = duckdb.connect()
        for name, sql in tpcds.source_sql(TICKETS).items():
            self.con.execute(f"CREATE TABLE {name} AS {sql}")
        for _, statement in VIEWS:
            self.con.execute(statement)

    def differences(self, db) -> dict[str, tuple[list, list]]:
        wrong = {}
        for name, _ in VIEWS:
            columns, expected = fetch(self.con, name)
            _, got = fetch(db.con, name)
            floats = [i for i, (_, t) in enumerate(columns) if kind_of(t) == "float"]
            only_got, only_expected = bag_difference(got, expected, floats)
            if only_got or only_expected:
                wrong[name] = (only_got[:3], only_expected[:3])
        return wrong


def run(path: Path, steps, tmp_path: Path) -> None:
    work = tmp_path / "work.duckdb"
    shutil.copy(path, work)
    oracle = Oracle()
    with ivm.connect(work) as db:
        assert not oracle.differences(db)
        for table, where in steps:
            report = db.delete(table, where)
            oracle.con.execute(f"DELETE FROM {table} WHERE {where}")
            fallen = {n: v["reason"] for n, v in report["views"].items() if v["strategy"] != "incremental"}
            assert not fallen, f"after deleting from {table} where {where}: {fallen}"
            wrong = oracle.differences(db)
            assert not wrong, f"after deleting from {table} where {where}, differ from plain DuckDB: {wrong}"
        assert db.verify()["ok"]
    oracle.con.close()


def test_every_query_is_maintained_incrementally(deployed):
    with ivm.connect(deployed) as db:
        assert sorted(db.plans) == sorted(name for name, _ in VIEWS)
        for name in db.plans:
            explained = db.explain(name)
            first = explained.splitlines()[0]
            assert ": incremental (" in first and "FALLBACK" not in explained, first
            if name in ROLLUP:  # one aggregate per grouping set, all reading one stage of the rows
                stages = [line.split() for line in explained.splitlines() if line.startswith("  stage ")]
                sets = [s for s in stages if "__gs" in s[1]]
                assert len(sets) >= 2 and {s[2] for s in sets} == {"[aggregate]"}, explained
                assert len({s[4] for s in sets}) == 1, explained
        empty = [n for n in db.plans if not db.con.execute(f"SELECT COUNT(*) FROM {n}").fetchall()[0][0]]
        assert not empty, f"the data selects no rows for {empty}: the test would not exercise them"


def test_cascade_keeps_every_query_equal_to_plain_duckdb(deployed, tmp_path):
    run(deployed, CASCADE, tmp_path)


@st.composite
def deletion(draw) -> tuple[str, str]:
    table = draw(st.sampled_from(sorted(KEYS)))
    key = KEYS[table]
    kind = draw(st.sampled_from([k for k in ("key", "value", "child")
                                 if k == "key" or (k == "value" and table in VALUES) or
                                 (k == "child" and table in PARENTS)]))
    if kind == "key":
        modulus = draw(st.sampled_from([3, 7, 25, 101]))
        return table, f"{key} % {modulus} = {draw(st.integers(0, modulus - 1))}"
    if kind == "value":
        column = VALUES[table]
        cut = draw(st.integers(0, 99))
        return table, (f"{column} >= (SELECT quantile_disc({column}, {cut / 100}) FROM {table}) "
                       f"AND {key} % 2 = {cut % 2}")
    parent, fk, pk = PARENTS[table]
    return table, f"{fk} IN (SELECT {pk} FROM {parent} WHERE {KEYS[parent]} % 11 = {draw(st.integers(0, 10))})"


@settings(max_examples=max(1, int(2 * SCALE)), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(deletion(), min_size=2, max_size=4))
def test_drawn_deletions_keep_every_query_equal_to_plain_duckdb(deployed, tmp_path, steps):
    run(deployed, steps, tmp_path)
