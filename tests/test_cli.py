"""End-to-end tests of the ``ivm`` command line, run as a real subprocess (``python -m ivm.cli``).

The example is a small shop: ``customers(id, name, country)`` and ``orders(id, customer_id, amount, day)``
loaded from CSV files, with views covering a join-filter-project, a grouped aggregate, views on views, a
UNION ALL and an ORDER BY ... LIMIT (which ivm maintains by recomputing).

Every view's contents are checked against an oracle that shares nothing with ivm: a plain in-memory DuckDB
connection that loads the same CSV files, applies the same deletions and runs the same view SQL (plus a pandas
cross-check of the aggregate and the join). Every kind of bad input must fail with exit code 2, one line on
stderr, no traceback, and leave the database file exactly as it was.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import ivm as ivm_api

CLI = [sys.executable, "-m", "ivm.cli"]
COMMANDS = ["load", "deploy", "delete", "recompute", "verify", "explain", "index"]

CUSTOMERS_CSV = """\
id,name,country
1,Ann,UK
2,Bob,FR
3,Cem,DE
4,Dee,UK
5,Eve,FR
6,Fay,US
"""

# Amounts are distinct so that ORDER BY amount DESC LIMIT 3 has no ties; order 108 has no amount and order
# 110 belongs to a customer who does not exist.
ORDERS_CSV = """\
id,customer_id,amount,day
101,1,12.5,2024-03-01
102,1,30.0,2024-03-02
103,2,7.25,2024-03-02
104,3,99.9,2024-03-03
105,4,5.0,2024-03-03
106,4,42.0,2024-03-04
107,5,18.75,2024-03-04
108,2,,2024-03-05
109,1,64.1,2024-03-05
110,7,3.3,2024-03-06
111,4,42.5,2024-03-06
"""

VIEWS_SQL = """\
-- join, filter and project
CREATE VIEW eu_orders AS
SELECT o.id AS order_id, c.name, c.country, o.amount
FROM orders AS o JOIN customers AS c ON o.customer_id = c.id
WHERE c.country IN ('UK', 'FR', 'DE') AND o.amount IS NOT NULL;

CREATE VIEW customer_stats AS
SELECT customer_id,
       COUNT(*) AS n_orders,
       COUNT(amount) AS n_amounts,
       SUM(amount) AS total,
       AVG(amount) AS mean,
       MIN(amount) AS smallest,
       MAX(amount) AS largest,
       COUNT(DISTINCT day) AS n_days
FROM orders
GROUP BY customer_id;

-- views on views
CREATE VIEW big_eu_orders AS SELECT name, amount FROM eu_orders WHERE amount >= 20;

CREATE VIEW country_totals AS
SELECT country, COUNT(*) AS n, SUM(amount) AS total FROM eu_orders GROUP BY country;

CREATE VIEW parties AS
SELECT id AS customer_id, 'customer' AS kind FROM customers
UNION ALL
SELECT customer_id, 'order' AS kind FROM orders;

CREATE VIEW top_orders AS
SELECT id, customer_id, amount FROM orders ORDER BY amount DESC LIMIT 3;
"""

VIEWS = ["eu_orders", "customer_stats", "big_eu_orders", "country_totals", "parties", "top_orders"]
SPJ_VIEWS = ["eu_orders", "big_eu_orders", "parties"]


# -- helpers --------------------------------------------------------------------------------------------------
def ivm(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def user_error(result: subprocess.CompletedProcess, *mentions: str) -> str:
    """Exit code 2, exactly one non-empty line on stderr, no traceback; returns that line."""
    detail = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, detail
    assert "Traceback" not in result.stderr, detail
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected a one-line error on stderr\n{detail}"
    for word in mentions:
        assert word.lower() in lines[0].lower(), f"error should mention {word!r}\n{detail}"
    return lines[0]


def norm(value):
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars from pandas
        return norm(value.item())
    return value


def bag(rows) -> Counter:
    return Counter(tuple(norm(v) for v in row) for row in rows)


def view_rows(db: Path, name: str) -> Counter:
    """What a plain DuckDB client sees in view ``name`` of the file."""
    con = duckdb.connect(str(db))
    try:
        return bag(con.execute(f'SELECT * FROM "{name}"').fetchall())
    finally:
        con.close()


def view_columns(db: Path, name: str) -> list[str]:
    con = duckdb.connect(str(db))
    try:
        return [d[0] for d in con.execute(f'SELECT * FROM "{name}" LIMIT 0').description]
    finally:
        con.close()


def oracle(data: dict, deletions: list[tuple[str, str]] = ()) -> dict[str, Counter]:
    """Each view computed from scratch by a fresh in-memory DuckDB over the same CSV files."""
    con = duckdb.connect()
    try:
        for table, path in data.items():
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}')")
        for table, where in deletions:
            con.execute(f"DELETE FROM {table} WHERE {where}")
        con.execute(VIEWS_SQL)
        return {name: bag(con.execute(f"SELECT * FROM {name}").fetchall()) for name in VIEWS}
    finally:
        con.close()


def pandas_oracle(data: dict, deleted_orders: set[int] = frozenset(),
                  deleted_customers: set[int] = frozenset()) -> dict[str, Counter]:
    """The join and the aggregate once more, computed by pandas alone."""
    customers = pd.read_csv(data["customers"])
    orders = pd.read_csv(data["orders"])
    customers = customers[~customers["id"].isin(deleted_customers)]
    orders = orders[~orders["id"].isin(deleted_orders)]
    joined = orders.merge(customers, left_on="customer_id", right_on="id", suffixes=("_o", "_c"))
    joined = joined[joined["country"].isin(["UK", "FR", "DE"]) & joined["amount"].notna()]
    eu = bag(joined[["id_o", "name", "country", "amount"]].itertuples(index=False, name=None))
    stats = []
    for customer_id, group in orders.groupby("customer_id"):
        amounts = group["amount"].dropna()
        stats.append((customer_id, len(group), len(amounts),
                      amounts.sum() if len(amounts) else None, amounts.mean() if len(amounts) else None,
                      amounts.min() if len(amounts) else None, amounts.max() if len(amounts) else None,
                      group["day"].nunique()))
    return {"eu_orders": eu, "customer_stats": bag(stats)}


def snapshot(db: Path) -> dict:
    """Everything in the file: every table and view (definition, columns, rows as a bag) and every index."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        state = {}
        relations = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY ALL").fetchall()
        for schema, name, kind in relations:
            cursor = con.execute(f'SELECT * FROM "{schema}"."{name}"')
            columns = [d[0] for d in cursor.description]
            state[(schema, name, kind)] = (columns, sorted(map(repr, cursor.fetchall())))
        state["views"] = con.execute("SELECT schema_name, view_name, sql FROM duckdb_views() "
                                     "WHERE NOT internal ORDER BY ALL").fetchall()
        state["indexes"] = con.execute("SELECT schema_name, table_name, index_name FROM duckdb_indexes() "
                                       "ORDER BY ALL").fetchall()
        return state
    finally:
        con.close()


def assert_unchanged(db: Path, before: dict) -> None:
    after = snapshot(db)
    assert after.keys() == before.keys(), "relations were added or removed"
    for key in before:
        assert after[key] == before[key], f"{key} changed"


# -- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """CSV files and a views file, loaded and deployed once; tests work on copies of the database."""
    root = tmp_path_factory.mktemp("shop")
    data = {"customers": root / "customers.csv", "orders": root / "orders.csv"}
    data["customers"].write_text(CUSTOMERS_CSV)
    data["orders"].write_text(ORDERS_CSV)
    views = root / "views.sql"
    views.write_text(VIEWS_SQL)
    db = root / "shop.db"
    loaded = ok(ivm("load", db, f"customers={data['customers']}", f"orders={data['orders']}"))
    deployed = ok(ivm("deploy", db, views))
    return {"root": root, "data": data, "views": views, "db": db,
            "load_stdout": loaded.stdout, "deploy_stdout": deployed.stdout}


@pytest.fixture
def db(shop, tmp_path) -> Path:
    copy = tmp_path / "shop.db"
    shutil.copy(shop["db"], copy)
    if Path(str(shop["db"]) + ".wal").exists():
        shutil.copy(str(shop["db"]) + ".wal", str(copy) + ".wal")
    return copy


# -- help -----------------------------------------------------------------------------------------------------
def test_module_entry_point_and_help_lists_every_command():
    with ThreadPoolExecutor(max_workers=4) as pool:
        top = pool.submit(ivm, "--help")
        subs = {name: pool.submit(ivm, name, "--help") for name in COMMANDS}
        script = Path(sys.executable).with_name("ivm")
        console = pool.submit(lambda: subprocess.run([str(script), "--help"], capture_output=True, text=True,
                                                     timeout=120)) if script.exists() else None
    text = ok(top.result()).stdout
    for name in COMMANDS:
        assert name in text, f"{name} missing from ivm --help"
    for name, future in subs.items():
        sub = ok(future.result()).stdout
        assert "Usage:" in sub and name in sub.splitlines()[0], sub
    assert "--where" in subs["delete"].result().stdout and "--from" in subs["delete"].result().stdout
    assert "--json" in subs["verify"].result().stdout and "--json" in subs["recompute"].result().stdout
    load_help = subs["load"].result().stdout
    for option in ("--no-header", "--columns", "--replace"):
        assert option in load_help
    if console is not None:  # the installed `ivm` console script (entry point ivm.launch:main)
        assert all(name in ok(console.result()).stdout for name in COMMANDS)


# -- load / deploy --------------------------------------------------------------------------------------------
def test_load_and_deploy_report_and_materialise_every_view(shop):
    assert "customers" in shop["load_stdout"] and "6 rows" in shop["load_stdout"]
    assert "orders" in shop["load_stdout"] and "11 rows" in shop["load_stdout"]
    for name in VIEWS:
        assert name in shop["deploy_stdout"]
    expected = oracle(shop["data"])
    for name in VIEWS:
        assert view_rows(shop["db"], name) == expected[name], name
    cross = pandas_oracle(shop["data"])
    assert view_rows(shop["db"], "eu_orders") == cross["eu_orders"]
    assert view_rows(shop["db"], "customer_stats") == cross["customer_stats"]
    assert view_columns(shop["db"], "customer_stats") == [
        "customer_id", "n_orders", "n_amounts", "total", "mean", "smallest", "largest", "n_days"]
    assert view_columns(shop["db"], "eu_orders") == ["order_id", "name", "country", "amount"]
    con = duckdb.connect(str(shop["db"]))
    try:  # sources are readable by name too
        assert con.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 11
        assert con.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 6
    finally:
        con.close()


def test_load_headerless_csv_with_columns_parquet_and_replace(tmp_path):
    headerless = tmp_path / "events.csv"
    headerless.write_text("1,click,0.5\n2,view,1.5\n3,click,2.5\n")
    parquet = tmp_path / "prices.parquet"
    pd.DataFrame({"sku": ["a", "b"], "price": [1.25, 9.5]}).to_parquet(parquet)
    db = tmp_path / "x.db"
    ok(ivm("load", db, f"events={headerless}", f"prices={parquet}", "--no-header",
           "--columns", "events=eid,kind,weight"))
    con = duckdb.connect(str(db))
    try:
        assert [d[0] for d in con.execute("SELECT * FROM events").description] == ["eid", "kind", "weight"]
        assert bag(con.execute("SELECT * FROM events").fetchall()) == bag(
            [(1, "click", 0.5), (2, "view", 1.5), (3, "click", 2.5)])
        assert bag(con.execute("SELECT * FROM prices").fetchall()) == bag([("a", 1.25), ("b", 9.5)])
    finally:
        con.close()

    # loading an existing name again needs --replace ...
    before = snapshot(db)
    user_error(ivm("load", db, f"prices={parquet}"), "prices")
    assert_unchanged(db, before)
    # ... and --replace reloads a source no view reads
    (tmp_path / "prices2.csv").write_text("sku,price\nc,3.0\n")
    ok(ivm("load", db, f"prices={tmp_path / 'prices2.csv'}", "--replace"))
    assert view_rows(db, "prices") == bag([("c", 3.0)])
    # a deletion-key index survives a replace that keeps its column, and one that loses it is named (it was
    # dropped silently, found by the README walkthrough hunt); one row is "1 row"
    ok(ivm("index", db, "prices", "sku"))
    ok(ivm("index", db, "prices", "price"))
    (tmp_path / "prices3.csv").write_text("sku,cost\nd,4.0\n")
    out = ok(ivm("load", db, f"prices={tmp_path / 'prices3.csv'}", "--replace")).stdout.splitlines()
    assert out == [f"loaded prices: 1 row from {tmp_path / 'prices3.csv'}",
                   "note: the index on prices(price) is gone: the new prices has no column price "
                   "(ivm index DB prices COLUMN to make another)"]
    assert ok(ivm("index", db)).stdout.split() == ["prices__by_sku:", "prices(sku)"]

    # a source read by a deployed view cannot be replaced
    (tmp_path / "v.sql").write_text("CREATE VIEW clicks AS SELECT eid FROM events WHERE kind = 'click';")
    ok(ivm("deploy", db, tmp_path / "v.sql"))
    before = snapshot(db)
    user_error(ivm("load", db, f"events={tmp_path / 'prices2.csv'}", "--replace"), "events")
    assert_unchanged(db, before)

    # BUG (found by a hunt): --columns for a Parquet source or a mistyped name, and --no-header without a CSV
    # file, were ignored silently
    user_error(ivm("load", db, f"more={parquet}", "--columns", "more=a,b"), "not a CSV source")
    user_error(ivm("load", db, f"more={tmp_path / 'prices2.csv'}", "--columns", "mroe=a,b"), "given for mroe")
    user_error(ivm("load", db, f"more={parquet}", "--no-header"), "none of the sources is a CSV file")
    assert_unchanged(db, before)
    (tmp_path / "empty.csv").write_text("")
    user_error(ivm("load", db, f"more={tmp_path / 'empty.csv'}"), "is empty")
    # BUG (found by a hunt): a CSV error said only on which line ("CSV Error on Line: 2"), not why
    (tmp_path / "latin1.csv").write_bytes(b"id,name\n1,caf\xe9\n")
    user_error(ivm("load", db, f"more={tmp_path / 'latin1.csv'}"), "not utf-8 encoded", "--csv encoding=")
    # a failed first load leaves no empty database file behind
    user_error(ivm("load", tmp_path / "new.db", f"more={parquet}", "--columns", "more=a,b"), "not a CSV source")
    assert not (tmp_path / "new.db").exists()


def test_load_json_and_arrow_files_and_refuse_files_that_are_no_table(tmp_path):
    """BUG (found by a hunt): every file but Parquet was read as CSV, so a JSON file loaded 0 rows and a views
    file one row per line, both with exit 0. JSON (an array or one object per line, also gzip-compressed) and
    Arrow IPC / Feather files are now read as such; an SQL, Python, database or Excel file is refused in one
    line and nothing is loaded."""
    import gzip

    import pyarrow as pa
    import pyarrow.feather as feather

    (tmp_path / "a.json").write_text('[{"id": 1, "s": "x"}, {"id": 2, "s": null}]')
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1, "k": 10}\n{"id": 3, "k": 30}\n'))
    feather.write_feather(pa.table({"id": [1, 2, 3], "w": [0.5, 1.5, None]}), tmp_path / "c.feather")
    db = tmp_path / "x.db"
    ok(ivm("load", db, f"a={tmp_path / 'a.json'}", f"b={tmp_path / 'b.jsonl.gz'}", f"c={tmp_path / 'c.feather'}"))
    assert view_rows(db, "a") == bag([(1, "x"), (2, None)])
    assert view_rows(db, "b") == bag([(1, 10), (3, 30)])
    assert view_rows(db, "c") == bag([(1, 0.5), (2, 1.5), (3, None)])
    (tmp_path / "v.sql").write_text("CREATE VIEW v AS SELECT a.id, a.s, b.k, c.w FROM a JOIN c ON a.id = c.id "
                                    "LEFT JOIN b ON b.id = a.id;")
    ok(ivm("deploy", db, tmp_path / "v.sql"))
    ok(ivm("delete", db, "--from", "c", "--where", "id = 1"))
    ok(ivm("verify", db))
    assert view_rows(db, "v") == bag([(2, None, None, 1.5)])

    before = snapshot(db)
    user_error(ivm("load", db, f"d={tmp_path / 'v.sql'}"), "is an SQL file")
    (tmp_path / "book.xlsx").write_bytes(b"PK")
    user_error(ivm("load", db, f"d={tmp_path / 'book.xlsx'}"), "Excel workbook")
    (tmp_path / "broken.feather").write_text("nonsense")
    user_error(ivm("load", db, f"d={tmp_path / 'broken.feather'}"), "cannot read")
    (tmp_path / "bad.json").write_text('{"id": 1,')
    user_error(ivm("load", db, f"d={tmp_path / 'bad.json'}"), "nothing was loaded")
    user_error(ivm("load", db, f"d={tmp_path / 'a.json'}", "--no-header"), "none of the sources is a CSV file")
    assert_unchanged(db, before)


def test_log_limits(db):
    """BUG (found by a hunt): --limit -1 was a traceback, --limit 0 printed every entry."""
    ok(ivm("delete", db, "--from", "orders", "--where", "id = 1"))
    ok(ivm("delete", db, "--from", "orders", "--where", "id = 2"))
    assert json.loads(ok(ivm("log", db, "--limit", "0", "--json")).stdout) == []
    assert ok(ivm("log", db, "--limit", "0")).stdout == ""  # it said "no deletions recorded"
    assert [e["id"] for e in json.loads(ok(ivm("log", db, "--limit", "1", "--json")).stdout)] == [2]
    result = ivm("log", db, "--limit", "-1")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "-1" in result.stderr


def test_views_file_with_comments_deploys(db, tmp_path):
    views = tmp_path / "commented.sql"
    views.write_text("-- first\nCREATE VIEW uk_customers AS SELECT id, name FROM customers WHERE country = 'UK';\n"
                     "/* second */ CREATE VIEW order_ids AS SELECT id FROM orders; -- trailing comment\n"
                     "-- the end\n")
    ok(ivm("deploy", db, views))
    assert view_rows(db, "uk_customers") == bag([(1, "Ann"), (4, "Dee")])
    assert sum(view_rows(db, "order_ids").values()) == 11


# -- delete / verify / recompute / explain --------------------------------------------------------------------
def check_delete_report(report: dict, *, source: str, deleted_rows: int, before: dict, after: dict) -> None:
    assert set(report) >= {"source", "deleted_rows", "seconds", "views"}
    assert report["source"] == source
    assert report["deleted_rows"] == deleted_rows
    assert isinstance(report["seconds"], (int, float)) and report["seconds"] >= 0
    assert set(report["views"]) == set(VIEWS)
    for name, view in report["views"].items():
        assert set(view) >= {"strategy", "reason", "deleted", "inserted", "seconds"}, name
        assert isinstance(view["reason"], str) and view["reason"], name
        assert isinstance(view["deleted"], int) and view["deleted"] >= 0, name
        assert isinstance(view["inserted"], int) and view["inserted"] >= 0, name
        assert isinstance(view["seconds"], (int, float)) and view["seconds"] >= 0, name
        # the counts are the change to the view's rows
        old, new = sum(before[name].values()), sum(after[name].values())
        assert old - view["deleted"] + view["inserted"] == new, (name, view, old, new)
        if view["deleted"] == 0 and view["inserted"] == 0:
            assert before[name] == after[name], name
    top = report["views"]["top_orders"]
    assert top["strategy"] == "incremental" and "top k" in top["reason"], top
    for name in VIEWS:
        assert report["views"][name]["strategy"] == "incremental", (name, report["views"][name])
    for name in SPJ_VIEWS:  # deletions only ever remove rows of select-project-join views
        view = report["views"][name]
        assert view["inserted"] == 0, (name, view)
        assert view["deleted"] == sum((before[name] - after[name]).values()), (name, view)


def test_deletions_keep_every_view_equal_to_a_full_recompute(shop, db):
    data = shop["data"]
    deletions: list[tuple[str, str]] = []
    current = oracle(data)
    reports = []
    steps = [
        ("orders", "amount < 10", 3),                      # 103, 105, 110: shrinks groups and the join
        ("customers", "country = 'FR'", 2),                # Bob and Eve: join rows and a UNION ALL branch
        ("orders", "customer_id = 42 OR id > 1000", 0),    # matches nothing: not an error
        ("orders", "id IN (104)", 1),                      # the largest order: top_orders must refill
        ("orders", "day = DATE '2024-03-02' OR amount IS NULL", 2),  # 102 and 108
    ]
    for table, where, count in steps:
        result = ok(ivm("delete", db, "--from", table, "--where", where, "--json"))
        report = json.loads(result.stdout)
        reports.append(report)
        deletions.append((table, where))
        expected = oracle(data, deletions)
        check_delete_report(report, source=table, deleted_rows=count, before=current, after=expected)
        for name in VIEWS:
            assert view_rows(db, name) == expected[name], (table, where, name)
        current = expected
    # removing the largest order took one row out of the top-k view and let the fourth one in
    assert reports[3]["views"]["top_orders"]["deleted"] == 1
    assert reports[3]["views"]["top_orders"]["inserted"] == 1
    assert current["top_orders"] == bag([(109, 1, 64.1), (111, 4, 42.5), (106, 4, 42.0)])
    cross = pandas_oracle(data, deleted_orders={103, 105, 110, 104, 102, 108}, deleted_customers={2, 5})
    assert view_rows(db, "eu_orders") == cross["eu_orders"]
    assert view_rows(db, "customer_stats") == cross["customer_stats"]

    verified = ok(ivm("verify", db, "--json"))
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert set(report["views"]) == set(VIEWS)
    for name in VIEWS:
        assert report["views"][name]["ok"] is True
        assert report["views"][name]["rows"] == sum(current[name].values()), name

    recomputed = json.loads(ok(ivm("recompute", db, "--json")).stdout)
    assert isinstance(recomputed["seconds"], (int, float)) and recomputed["seconds"] >= 0
    assert set(recomputed["views"]) == set(VIEWS)
    for name in VIEWS:
        assert recomputed["views"][name]["rows"] == sum(current[name].values()), name
        assert recomputed["views"][name]["seconds"] >= 0
        assert view_rows(db, name) == current[name], name

    # maintenance keeps working after a recompute
    report = json.loads(ok(ivm("delete", db, "--from", "customers", "--where", "id = 1", "--json")).stdout)
    deletions.append(("customers", "id = 1"))
    expected = oracle(data, deletions)
    check_delete_report(report, source="customers", deleted_rows=1, before=current, after=expected)
    for name in VIEWS:
        assert view_rows(db, name) == expected[name], name
    text = ok(ivm("verify", db))
    for name in VIEWS:
        assert name in text.stdout


def test_delete_text_output_and_empty_match(db):
    audit = ("_ivm", "__audit", "BASE TABLE")
    before = snapshot(db)
    result = ok(ivm("delete", db, "--from", "orders", "--where", "amount > 1000"))
    assert "0 rows" in result.stdout
    for name in VIEWS:
        assert name in result.stdout
    after = snapshot(db)
    # the audit log records every deletion request, also one that matched nothing; no other data changes
    assert len(after.pop(audit)[1]) == len(before.pop(audit)[1]) + 1
    assert after == before


def test_index_on_the_deletion_key_keeps_views_exact(db):
    """An ART index on the column deletions name changes how DuckDB finds the rows, never the result."""
    assert "no deletion-key indexes" in ok(ivm("index", db)).stdout
    assert "orders__by_customer_id: orders(customer_id)" in ok(ivm("index", db, "orders", "customer_id")).stdout
    ok(ivm("index", db, "orders", "CUSTOMER_ID"))  # again: nothing new
    ok(ivm("index", db, "customers", "id", "country"))
    listed = json.loads(ok(ivm("index", db, "--json")).stdout)["indexes"]
    assert listed == {"customers__by_id_country": "customers(id, country)",
                      "orders__by_customer_id": "orders(customer_id)"}
    for table, where in [("orders", "customer_id IN (1, 4)"), ("customers", "id = 2"), ("orders", "customer_id = 7")]:
        report = json.loads(ok(ivm("delete", db, "--from", table, "--where", where, "--json")).stdout)
        assert report["deleted_rows"] > 0, where
        assert json.loads(ok(ivm("verify", db, "--json")).stdout)["ok"], where


def test_explain(db):
    before = snapshot(db)
    everything = ok(ivm("explain", db)).stdout
    for name in VIEWS:
        assert name in everything
    assert "incremental" in everything and "recompute" in everything
    assert "DELETE" in everything.upper()  # the delta SQL is shown
    one = ok(ivm("explain", db, "top_orders")).stdout
    assert "top_orders" in one and "LIMIT" in one.upper() and "recompute" in one
    assert "customer_stats" not in one
    user_error(ivm("explain", db, "no_such_view"), "no_such_view")
    assert_unchanged(db, before)


def test_verify_fails_when_a_view_was_tampered_with(db):
    con = duckdb.connect(str(db))
    try:
        con.execute('DELETE FROM _ivm."eu_orders" WHERE order_id = 109')
    finally:
        con.close()
    result = ivm("verify", db, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["views"]["eu_orders"]["ok"] is False
    for name in ("customer_stats", "parties", "top_orders"):  # views that do not read eu_orders
        assert report["views"][name]["ok"] is True, name


# -- bad input ------------------------------------------------------------------------------------------------
# Each case: files to write next to the database copy, the CLI arguments ({db} and {dir} are filled in) and
# words the one-line error must mention. The cases run concurrently once per module (each on its own copy
# of the database); the parametrised test below checks each of them.
BINARY = bytes(range(256)) * 4 + b"\x00\xff\xfe\x89PNG\r\n\x1a\n" * 16


def _deploy(sql: str, *mentions: str) -> dict:
    return {"files": {"bad.sql": sql}, "args": ["deploy", "{db}", "{dir}/bad.sql"], "mentions": mentions}


def _delete(table: str, where: str, *mentions: str) -> dict:
    return {"files": {}, "args": ["delete", "{db}", "--from", table, "--where", where, "--json"],
            "mentions": mentions}


BAD_INPUT = {
    # views files
    "deploy-unparsable": _deploy("CREATE VIEW v AS SELECT id FROM orders WHERE (amount > 1"),
    "deploy-unparsable-keyword": _deploy("CREATE VIEW v AS SELEC id FROM orders"),
    "deploy-drop-table": _deploy("CREATE VIEW v AS SELECT id FROM orders;\nDROP TABLE customers;", "DROP"),
    "deploy-insert": _deploy("INSERT INTO customers VALUES (9, 'Zed', 'UK');", "INSERT"),
    "deploy-unknown-table": _deploy("CREATE VIEW v AS SELECT id FROM no_such_table;", "no_such_table"),
    "deploy-unknown-column": _deploy("CREATE VIEW v AS SELECT no_such_column FROM orders;", "no_such_column"),
    "deploy-second-view-bad": _deploy("CREATE VIEW v AS SELECT id FROM orders;\n"
                                      "CREATE VIEW w AS SELECT id, nope FROM orders;", "nope"),
    "deploy-random": _deploy("CREATE VIEW v AS SELECT id, random() AS r FROM orders;", "random"),
    "deploy-now": _deploy("CREATE VIEW v AS SELECT id FROM orders WHERE day < now();", "now"),
    "deploy-uuid": _deploy("CREATE VIEW v AS SELECT id, uuid() AS u FROM orders;", "uuid"),
    "deploy-existing-view": _deploy("CREATE VIEW eu_orders AS SELECT id FROM orders;", "eu_orders"),
    "deploy-existing-source": _deploy("CREATE VIEW orders AS SELECT id FROM customers;", "orders"),
    "deploy-missing-file": {"files": {}, "args": ["deploy", "{db}", "{dir}/missing.sql"],
                            "mentions": ("missing.sql",)},
    # hunt findings: a directory for the views file was "does not exist"; a source named like ivm's schema or a
    # DuckDB catalog view loaded (and could not be deleted from) or failed with "Cannot drop internal catalog entry"
    "deploy-a-directory": {"files": {}, "args": ["deploy", "{db}", "{dir}"], "mentions": ("is not a file",)},
    "load-named-_ivm": {"files": {"good.csv": "sku,price\na,1.0\n"},
                        "args": ["load", "{db}", "_ivm={dir}/good.csv"], "mentions": ("ivm's own schema",)},
    "load-named-duckdb_tables": {"files": {"good.csv": "sku,price\na,1.0\n"},
                                 "args": ["load", "{db}", "duckdb_tables={dir}/good.csv"],
                                 "mentions": ("DuckDB's own catalog views",)},
    # deletions
    "delete-unknown-column": _delete("orders", "no_such_column = 1", "no_such_column"),
    "delete-two-statements": _delete("orders", "1=1; DROP TABLE customers"),
    "delete-broken-parentheses": _delete("orders", "id IN (101)) OR (1=1"),
    "delete-writing-subquery": _delete("orders", "(DELETE FROM customers RETURNING 1)"),
    "delete-empty-predicate": _delete("orders", "   "),
    "delete-value-with-an-alias": _delete("orders", "order_id = 101 x", "alias"),
    # review finding: COLUMNS(*) on the stored table also compared ivm's hidden row id (a wrong match)
    "delete-columns-star": _delete("orders", "COLUMNS(* REPLACE (id + 1 AS id)) > 100", "COLUMNS"),
    # hunt finding: an aggregate was refused as "uses COLUMNS(...) or *" (the star of COUNT(*))
    "delete-aggregate": _delete("orders", "count(*) > 1", "COUNT(*)", "aggregate"),
    "delete-from-view": _delete("eu_orders", "order_id = 101", "eu_orders"),
    "delete-from-unknown-table": _delete("no_such_table", "id = 1", "no_such_table"),
    # deletion-key indexes
    "index-unknown-table": {"files": {}, "args": ["index", "{db}", "no_such_table", "id"],
                            "mentions": ("no_such_table",)},
    "index-view": {"files": {}, "args": ["index", "{db}", "eu_orders", "order_id"], "mentions": ("eu_orders",)},
    "index-unknown-column": {"files": {}, "args": ["index", "{db}", "orders", "nope"], "mentions": ("nope",)},
    "index-no-column": {"files": {}, "args": ["index", "{db}", "orders"], "mentions": ("column",)},
    # loads
    "load-missing-csv": {"files": {}, "args": ["load", "{db}", "extra={dir}/missing.csv"],
                         "mentions": ("missing.csv",)},
    "load-binary-csv": {"files": {"binary.csv": BINARY}, "args": ["load", "{db}", "extra={dir}/binary.csv"],
                        "mentions": ("binary.csv",)},
    # hunt finding: an in-memory or empty database path "loaded" rows that were gone when the command ended
    "load-into-memory": {"files": {"good.csv": "sku,price\na,1.0\n"},
                         "args": ["load", ":memory:", "good={dir}/good.csv"], "mentions": ("database file",)},
    "load-into-empty-path": {"files": {"good.csv": "sku,price\na,1.0\n"},
                             "args": ["load", "", "good={dir}/good.csv"], "mentions": ("database file",)},
    # several files in one load: all or nothing
    "load-second-file-missing": {"files": {"good.csv": "sku,price\na,1.0\n"},
                                 "args": ["load", "{db}", "good={dir}/good.csv", "extra={dir}/missing.csv"],
                                 "mentions": ("missing.csv",)},
}


@pytest.fixture(scope="module")
def bad_runs(shop, tmp_path_factory):
    def run(case: str):
        spec = BAD_INPUT[case]
        folder = tmp_path_factory.mktemp(case)
        db = folder / "shop.db"
        shutil.copy(shop["db"], db)
        for name, content in spec["files"].items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        before = snapshot(db)
        args = [a.replace("{db}", str(db)).replace("{dir}", str(folder)) for a in spec["args"]]
        return case, (db, before, ivm(*args))

    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        return dict(pool.map(run, BAD_INPUT))


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_with_one_line_and_changes_nothing(bad_runs, case):
    db, before, result = bad_runs[case]
    user_error(result, *BAD_INPUT[case]["mentions"])
    assert_unchanged(db, before)


def test_locked_database(db):
    before = snapshot(db)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, duckdb\n"
         "con = duckdb.connect(sys.argv[1])\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        user_error(ivm("delete", db, "--from", "orders", "--where", "id = 101"), "shop.db")
        # BUG (found by a hunt): compare copied the file of a database another process had open
        user_error(ivm("compare", db, "--from", "orders", "--where", "id = 101"), "another process")
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert_unchanged(db, before)


def test_load_csv_options_read_the_file_as_the_pipeline_did(tmp_path):
    """A semicolon file with decimal commas, NA markers and day-first dates, as European exports are:
    without the options the amounts would be text and the dates strings."""
    export = tmp_path / "orders.csv"
    export.write_text("oid;amount;shipped\n1;12,50;03/02/2024\n2;NA;28/02/2024\n3;7,25;NA\n")
    db = tmp_path / "x.db"
    ok(ivm("load", db, f"orders={export}", "--csv", "delim=;", "--csv", "decimal_separator=,",
           "--csv", "nullstr=NA", "--csv", "dateformat=%d/%m/%Y"))
    con = duckdb.connect(str(db))
    try:
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = 'main' AND table_name = 'orders'").fetchall())
        assert types["amount"] == "DOUBLE" and types["shipped"] == "DATE"
        rows = con.execute("SELECT oid, amount, CAST(shipped AS VARCHAR) FROM orders ORDER BY oid").fetchall()
        assert rows == [(1, 12.5, "2024-02-03"), (2, None, "2024-02-28"), (3, 7.25, None)]
    finally:
        con.close()

    # a list and a map (quoted SQL literals) through the Python API and the CLI alike
    db2 = tmp_path / "y.db"
    ok(ivm("load", db2, f"orders={export}", "--csv", "delim=';'", "--csv", "decimal_separator=','",
           "--csv", "nullstr=['NA', '']", "--csv", "types={'oid': 'VARCHAR'}"))
    assert view_rows(db2, "orders") == bag([("1", 12.5, date(2024, 2, 3)), ("2", None, date(2024, 2, 28)),
                                            ("3", 7.25, None)])
    with ivm_api.connect(tmp_path / "z.db") as api:
        api.load("orders", export, csv={"delim": ";", "decimal_separator": ",", "nullstr": ["NA"],
                                        "types": {"oid": "BIGINT"}, "dateformat": "%d/%m/%Y"})
        assert api.con.execute("SELECT SUM(amount) FROM orders").fetchone()[0] == pytest.approx(19.75)


def test_load_csv_options_refuse_bad_input_and_load_nothing(tmp_path):
    export = tmp_path / "orders.csv"
    export.write_text("oid;amount\n1;2\n")
    db = tmp_path / "x.db"
    ok(ivm("load", db, f"seed={export}"))
    before = snapshot(db)
    user_error(ivm("load", db, f"orders={export}", "--csv", "no_such_option=1"), "no_such_option")
    user_error(ivm("load", db, f"orders={export}", "--csv", "delim"), "KEY=VALUE")
    user_error(ivm("load", db, f"orders={export}", "--csv", "delim) ; DROP TABLE seed; --=x"), "plain name")
    user_error(ivm("load", db, f"orders={export}", "--csv", "nullstr=['NA', (SELECT 1)]"), "only literals")
    # a value is a string literal, never SQL: this is a (bad) delimiter, not a statement
    user_error(ivm("load", db, f"orders={export}", "--csv", "delim=x'); DROP TABLE seed; --"), "orders")
    assert_unchanged(db, before)
    with ivm_api.connect(db) as api:
        with pytest.raises(ivm_api.IvmError, match="not supported"):
            api.load("orders", export, csv={"delim": object()})
        assert "orders" not in api.sources


def test_progress_reports_each_view_and_the_bar_stays_off_pipes(shop, tmp_path):
    """deploy, recompute and verify report (done, total, view) before each view; the CLI draws a bar on
    stderr only when stderr is a terminal, so piped runs (these tests, JSON consumers) see no bar."""
    from ivm.progress import terminal_bar

    calls = []
    with ivm_api.connect(tmp_path / "p.db") as db:
        db.load("customers", shop["data"]["customers"])
        db.load("orders", shop["data"]["orders"])
        names = db.deploy(shop["views"].read_text(), progress=lambda *call: calls.append(("deploy", *call)))
        db.recompute(progress=lambda *call: calls.append(("recompute", *call)))
        db.verify(progress=lambda *call: calls.append(("verify", *call)))
    for command in ("deploy", "recompute", "verify"):
        assert [c[1:] for c in calls if c[0] == command] == [(i, len(names), n) for i, n in enumerate(names)] \
            + [(len(names), len(names), names[-1])]  # and once done (a bar stopped one short: a walkthrough)
    with terminal_bar("deploy", enabled=True) as report:
        report(1, 3, "v")
    with terminal_bar("deploy") as report:  # pytest's stderr is not a terminal
        assert report is None
    result = ok(ivm("recompute", tmp_path / "p.db"))
    assert result.stderr == ""


def test_a_failing_progress_callback_deploys_nothing(shop, tmp_path):
    """Review finding: deploy rolled back only on IvmError and DuckDB errors; an exception from the progress
    callback (or Ctrl-C) left the transaction open and a half-deployed plan in the Database object, so every
    later deletion failed ('cannot start a transaction within a transaction')."""
    def fail_at_second(done, total, view):
        if done == 1:
            raise RuntimeError("callback failed")

    with ivm_api.connect(tmp_path / "p.db") as db:
        db.load("customers", shop["data"]["customers"])
        db.load("orders", shop["data"]["orders"])
        with pytest.raises(RuntimeError, match="callback failed"):
            db.deploy(shop["views"].read_text(), progress=fail_at_second)
        assert db.views == [] and db.plans == {}
        names = db.deploy(shop["views"].read_text())
        db.delete("orders", "id = 101")
        assert db.views == names and db.verify()["ok"]


def test_load_csv_option_values_are_text_unless_the_option_takes_a_number(tmp_path):
    """Review findings: `--csv nullstr=-999` was turned into the number -999 (DuckDB refused it), a numpy float
    was rendered with its repr (np.float64(...)), a bad --csv spec still created the database file, and CSV
    options on Parquet-only loads were silently ignored."""
    import numpy as np

    export = tmp_path / "m.csv"
    export.write_text("id,reading\n1,-999\n2,4.5\n3,00\n")
    db = tmp_path / "x.db"
    ok(ivm("load", db, f"m={export}", "--csv", "nullstr=-999", "--csv", "skip=0", "--csv", "header=true",
           "--csv", "types={'reading': 'DOUBLE'}"))
    assert view_rows(db, "m") == bag([(1, None), (2, 4.5), (3, 0.0)])
    with ivm_api.connect(tmp_path / "y.db") as api:
        api.load("m", export, csv={"nullstr": "00", "sample_size": np.int64(-1), "skip": np.float64(0).item()})
        assert api.con.execute("SELECT COUNT(*) FROM m WHERE reading IS NULL").fetchone()[0] == 1
    from ivm.store.csv_options import named_parameters
    assert named_parameters({"sample_size": np.float64(100.0), "skip": np.int64(2)}) == \
        ["sample_size = 100.0", "skip = 2"]

    fresh = tmp_path / "fresh.db"
    user_error(ivm("load", fresh, f"m={export}", "--csv", "delim"), "KEY=VALUE")
    assert not fresh.exists()
    parquet = tmp_path / "p.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(parquet)
    user_error(ivm("load", tmp_path / "z.db", f"p={parquet}", "--csv", "no_such_option=1"), "none of the sources")


def test_a_mistyped_database_path_is_an_error_not_a_new_database(tmp_path):
    """BUG (found by a review): `ivm verify typo.duckdb` created an empty database and exited 0 ("no views"),
    so a typo in CI passed; `ivm delete` left a new file behind. Only `ivm load` creates a database."""
    for args in (["verify"], ["recompute"], ["explain"], ["delete", "--from", "t", "--where", "true"],
                 ["purge"], ["log"]):
        path = tmp_path / "typo.duckdb"
        message = user_error(ivm(args[0], path, *args[1:]), "does not exist")
        assert "ivm load" in message
        assert not path.exists() and not list(tmp_path.iterdir())


def test_a_files_time_zone_is_pinned_whatever_the_shell_says(tmp_path):
    """BUG: DuckDB takes its TimeZone from TZ, so CAST(ts AS DATE) over a TIMESTAMPTZ meant another day in
    another shell: a deletion run from Tokyo subtracted a row from the group of its Tokyo date (emptying it)
    and left the UTC group it was counted in stale. The first connection now records the zone for the file."""
    csv = tmp_path / "t.csv"
    csv.write_text("id,ts\n1,2024-01-01 20:00:00+00\n2,2024-01-01 21:00:00+00\n3,2024-01-02 10:00:00+00\n")
    (tmp_path / "v.sql").write_text("CREATE VIEW per_day AS SELECT CAST(ts AS DATE) AS d, COUNT(*) AS n FROM t "
                                    "GROUP BY CAST(ts AS DATE)")
    db = tmp_path / "tz.duckdb"

    def run(zone: str, *args) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TZ": zone})
    ok(run("UTC", "load", db, f"t={csv}"))
    ok(run("UTC", "deploy", db, tmp_path / "v.sql"))
    ok(run("Asia/Tokyo", "verify", db))
    ok(run("Asia/Tokyo", "delete", db, "--from", "t", "--where", "id = 1"))
    ok(run("UTC", "verify", db))
    ok(run("America/Los_Angeles", "verify", db))
    assert view_rows(db, "per_day") == bag([(date(2024, 1, 1), 1), (date(2024, 1, 2), 1)])


def test_a_bug_in_ivm_is_one_line_unless_debugging(db, monkeypatch, capsys):
    """An exception that is no user error (a bug) prints one line naming it; IVM_DEBUG=1 raises it."""
    from ivm import cli as cli_module
    from ivm.store.engine import Database

    def broken(self, **_):
        raise KeyError("v__input")
    monkeypatch.setattr(Database, "verify", broken)
    monkeypatch.delenv("IVM_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli_module.main(["verify", str(db)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1
    assert err.startswith("internal error (a bug in ivm; please report it): KeyError: 'v__input'")
    monkeypatch.setenv("IVM_DEBUG", "0")  # off, as unset is (it raised the error too)
    with pytest.raises(SystemExit) as exit_:
        cli_module.main(["verify", str(db)])
    assert exit_.value.code == 1 and capsys.readouterr().err.startswith("internal error")
    monkeypatch.setenv("IVM_DEBUG", "1")
    with pytest.raises(KeyError):
        cli_module.main(["verify", str(db)])


def test_files_in_the_wrong_place_odd_names_and_encodings(tmp_path):
    """BUGS (found by a hunt): a CSV given where the database belongs was opened by DuckDB as a temporary
    database (`ivm purge data.csv` overwrote the CSV; `ivm load data.csv t=x.csv` loaded nothing); a path with
    glob characters loaded other files; a Latin-1 views file was an internal error; read-only commands wrote
    ivm's tables into a plain DuckDB file; a schema-qualified or TEMP view name was dropped silently; a CSV of
    blank lines loaded as a NULL column."""
    data = tmp_path / "data.csv"
    data.write_bytes(b"id,name\n1,alice\n")
    for args in (["purge", data], ["verify", data], ["load", data, f"t={data}"]):
        user_error(ivm(*args), "not a database", "comes first")
        assert data.read_bytes() == b"id,name\n1,alice\n"
    (tmp_path / "rep[1].csv").write_text("a,b\n1,2\n")
    (tmp_path / "rep1.csv").write_text("a,b\n5,5\n")
    (tmp_path / "one?.csv").write_text("a,b\n7,7\n")
    (tmp_path / "oneX.csv").write_text("a,b\n8,8\n")
    db = tmp_path / "db.duckdb"
    ok(ivm("load", db, f"t={tmp_path / 'rep[1].csv'}", f"u={tmp_path / 'one?.csv'}"))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("SELECT * FROM t").fetchall() == [(1, 2)]
        assert con.sql("SELECT * FROM u").fetchall() == [(7, 7)]
    # BUG (found by a hunt): with --csv filename=true such a file's rows recorded the temporary link's path
    user_error(ivm("load", db, f"w={tmp_path / 'rep[1].csv'}", "--csv", "filename=true"), "filename", "rename")
    views = tmp_path / "views.sql"
    views.write_bytes("CREATE VIEW v AS SELECT a AS \"caf\u00e9\" FROM t;".encode("latin-1"))
    user_error(ivm("deploy", db, views), "not UTF-8")
    for text, mention in (("CREATE VIEW reporting.v AS SELECT a FROM t;", "main schema"),
                          ("CREATE TEMP VIEW v AS SELECT a FROM t;", "TEMP")):
        views.write_text(text)
        user_error(ivm("deploy", db, views), mention)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n  \n")
    user_error(ivm("load", db, f"b={blank}"), "empty")
    plain = tmp_path / "plain.duckdb"
    with duckdb.connect(str(plain)) as con:
        con.execute("CREATE TABLE x AS SELECT 1 AS y")
    for command in ("verify", "explain", "log"):
        user_error(ivm(command, plain), "not set up")
    with duckdb.connect(str(plain), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = '_ivm'").fetchone() == (0,)


def test_udfs_option_registers_functions_for_every_command(tmp_path):
    """BUG (found by a README review): `ivm --udfs FILE deploy/delete/verify/...` (and IVM_UDFS) failed with
    DuckDB's "connection has an unfinished result": opening the database read whether ivm's catalog exists
    with fetchone(), which leaves DuckDB 2.0.1's result open, and registering the functions then refused to
    run. Only `load` and `compare` worked."""
    udfs = tmp_path / "udfs.py"
    udfs.write_text("def shout(s: str) -> str:\n    return s.upper() + '!'\n\n"
                    "def register_udfs(con):\n    con.create_function('shout', shout, ['VARCHAR'], 'VARCHAR')\n")
    (tmp_path / "t.csv").write_text("id,name\n1,ann\n2,bob\n3,cy\n")
    (tmp_path / "views.sql").write_text("CREATE VIEW loud AS SELECT id, shout(name) AS name FROM t;")
    db = tmp_path / "u.duckdb"
    ok(ivm("--udfs", udfs, "load", db, f"t={tmp_path / 't.csv'}"))
    ok(ivm("--udfs", udfs, "deploy", db, tmp_path / "views.sql"))
    ok(ivm("--udfs", udfs, "delete", db, "--from", "t", "--where", "id = 2"))
    assert json.loads(ok(ivm("--udfs", udfs, "verify", db, "--json")).stdout)["ok"] is True
    ok(ivm("--udfs", udfs, "recompute", db))
    ok(ivm("--udfs", udfs, "explain", db, "loud"))
    environment = {**os.environ, "IVM_UDFS": str(udfs)}
    result = subprocess.run([*CLI, "delete", str(db), "--from", "t", "--where", "id = 3", "--json"],
                            capture_output=True, text=True, timeout=120, env=environment)
    assert json.loads(ok(result).stdout)["views"]["loud"]["deleted"] == 1
    connection = duckdb.connect(str(db), read_only=True)
    try:
        assert connection.sql("SELECT id, name FROM loud").fetchall() == [(1, "ANN!")]
    finally:
        connection.close()
    # without the functions (found by a hunt): the audit log reads (it plans no view); commands that maintain,
    # compare or explain views say what is missing, in one line, and change nothing
    log = json.loads(ok(ivm("log", db, "--json")).stdout)
    assert len(log) == 2, log
    for arguments in (["delete", db, "--from", "t", "--where", "id = 1"], ["verify", db], ["explain", db],
                      ["deploy", db, tmp_path / "views.sql"]):
        refused = ivm(*arguments)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert "shout does not exist" in refused.stderr and "--udfs" in refused.stderr, refused.stderr
    connection = duckdb.connect(str(db), read_only=True)
    try:
        assert connection.sql("SELECT id, name FROM loud").fetchall() == [(1, "ANN!")]
        assert connection.sql("SELECT id FROM t").fetchall() == [(1,)]
    finally:
        connection.close()


def test_duckdb_progress_bar_stays_out_of_stdout(tmp_path):
    """BUG (found by a hunt): DuckDB's own progress bar was on for ivm's connection and wrote `100% ▕███▏` to
    stdout for any statement over ~2 s, into `ivm recompute --json` output even when piped. It is switched off
    on every connection ivm opens."""
    path = tmp_path / "p.duckdb"
    with ivm_api.connect(path) as db:
        db.load("t", pd.DataFrame({"i": [1, 2, 3]}))
    code = ("import duckdb\n"
            "plain = duckdb.connect\n"
            "def connect(*args, **kwargs):  # DuckDB shows the bar after 0 ms (and switches it on)\n"
            "    con = plain(*args, **kwargs)\n"
            "    if args and str(args[0]).endswith('p.duckdb'):  # ivm's connection to the file\n"
            "        con.execute('SET progress_bar_time = 0')\n"
            "    return con\n"
            "duckdb.connect = connect\n"
            "import ivm\n"
            f"db = ivm.connect({str(path)!r})\n"
            "print('opened', flush=True)  # (with a bar after 0 ms, the statement switching it off shows one)\n"
            "db.con.execute('SELECT count(*) FROM range(30000000) r(i) WHERE hash(i) % 7 = 1').fetchall()\n"
            "db.close()\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("opened\n", 1)[1] == "", run.stdout[-200:]


def test_ctrl_c_while_ivm_starts_is_one_line():
    """BUG (found by a hunt): Ctrl-C in the first ~0.3 s of a command (while DuckDB, sqlglot and click load)
    printed a traceback from inside sqlglot and exited with -2: the command line's own handling did not exist
    yet. The entry point (ivm.launch) imports nothing before its guard, and `import ivm` loads nothing heavy."""
    code = ("import builtins, sys\n"
            "plain = builtins.__import__\n"
            "def stopped(name, *args, **kwargs):\n"
            "    if name == 'ivm.cli':\n"
            "        raise KeyboardInterrupt\n"
            "    return plain(name, *args, **kwargs)\n"
            "builtins.__import__ = stopped\n"
            "from ivm.launch import main\n"
            "assert 'duckdb' not in sys.modules and 'sqlglot' not in sys.modules\n"
            "main(['--help'])\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 130, run.stderr
    assert run.stderr == "interrupted: ivm was still starting; nothing changed\n"
    entry = [line for line in Path(__file__).parents[1].joinpath("pyproject.toml").read_text().splitlines()
             if line.startswith("ivm = ")]
    assert entry == ['ivm = "ivm.launch:main"']


def test_sigterm_while_ivm_starts_is_one_line():
    """BUG (found by a crash hunt): SIGTERM in the first ~0.4 s of a command ended it without a word (ivm's
    handler, which makes SIGTERM unwind like Ctrl-C, was installed after the imports)."""
    code = ("import builtins, os, signal, sys\n"
            "plain = builtins.__import__\n"
            "def stopped(name, *args, **kwargs):\n"
            "    if name == 'ivm.cli':\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return plain(name, *args, **kwargs)\n"
            "builtins.__import__ = stopped\n"
            "from ivm.launch import main\n"
            "main(['--help'])\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 130, (run.returncode, run.stderr)
    assert run.stderr == "interrupted: ivm was still starting; nothing changed\n"
