"""Dropping deployed views (``Database.drop``, ``ivm drop``) and redefining them (``CREATE OR REPLACE VIEW``).

A drop removes everything ivm kept for the view (stage tables with their lineage and indexes, the verbatim
text of a recomputed view, its catalog and cost entries) in one transaction, and the views left keep being
maintained equal to a recompute. A drop or replacement that would leave another view or a feature set
reading nothing is refused and changes nothing.
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter

import duckdb
import pytest

import ivm
from ivm import ml
from ivm.errors import IvmError
from ivm.store import catalog

VIEWS = """
CREATE VIEW big AS SELECT o.id, o.amount, c.country FROM orders o JOIN customers c ON o.cid = c.id WHERE o.amount > 2;
CREATE VIEW per_country AS SELECT country, COUNT(*) AS n, SUM(amount) AS total, MAX(amount) AS top FROM big
    GROUP BY country;
CREATE VIEW top2 AS SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 2;
CREATE VIEW ranked AS SELECT id, cid, ROW_NUMBER() OVER (PARTITION BY cid ORDER BY amount, id) AS r FROM orders;
"""


def make_db(path=":memory:") -> ivm.Database:
    db = ivm.connect(path)
    maker = duckdb.connect()
    db.load("customers", maker.sql("SELECT i AS id, ['UK', 'FR', 'DE'][1 + i % 3] AS country "
                                   "FROM range(12) r(i)").to_arrow_table())
    db.load("orders", maker.sql("SELECT i AS id, i % 12 AS cid, (i * 7) % 10 AS amount "
                                "FROM range(80) r(i)").to_arrow_table())
    db.deploy(VIEWS)
    return db


def internal_relations(db) -> set[str]:
    return {f"{schema}.{name}" for schema, name in db.con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary UNION ALL "
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall()}


def contents(db, view) -> Counter:
    return Counter(db.con.execute(f"SELECT * FROM {view}").fetchall())


def test_drop_removes_everything_and_the_rest_stays_maintained(tmp_path):
    db = make_db(tmp_path / "d.duckdb")
    before = internal_relations(db)
    stage_tables = {f"_ivm.{s.name}" for name in ("per_country", "big") for s in db.plans[name].stages}
    assert stage_tables <= before
    assert db.drop("per_country", "big") == ["per_country", "big"]  # readers first
    after = internal_relations(db)
    assert after == before - stage_tables - {"main.per_country", "main.big"}
    assert [name for name, _, _ in catalog.views(db.con)] == ["top2", "ranked"]
    for k in range(5):
        db.delete("orders", f"id % 5 = {k} AND id < 40")
        db.delete("customers", f"id = {k}")
        assert db.verify()["ok"]
    db.close()
    with ivm.connect(tmp_path / "d.duckdb") as again:  # the plans read back from the file agree
        assert again.views == ["top2", "ranked"]
        assert again.verify()["ok"]


def test_drop_refuses_while_a_view_reads_and_changes_nothing():
    db = make_db()
    before, rows = internal_relations(db), contents(db, "big")
    with pytest.raises(IvmError, match=r"view per_country reads view big; .*ivm drop DB per_country big"):
        db.drop("big")
    assert internal_relations(db) == before and contents(db, "big") == rows
    with pytest.raises(IvmError, match="orders is a source table"):
        db.drop("orders")
    with pytest.raises(IvmError, match="nope is not a deployed view; views: big, per_country, top2, ranked"):
        db.drop("top2", "nope")  # all or nothing: top2 stays
    with pytest.raises(IvmError, match="at least one view"):
        db.drop()
    assert internal_relations(db) == before
    assert db.drop("BIG", "per_country", "big") == ["per_country", "big"]  # any order, any case, once each


def test_a_dropped_name_can_be_deployed_again_with_another_definition():
    db = make_db()
    db.drop("top2")
    db.deploy("CREATE VIEW top2 AS SELECT cid, SUM(amount) AS s FROM orders GROUP BY cid ORDER BY s DESC LIMIT 2")
    db.delete("orders", "cid IN (1, 2)")
    assert db.verify()["ok"]
    assert set(db.con.execute("SELECT * FROM top2").fetchall()) <= set(
        db.con.execute("SELECT cid, SUM(amount) FROM orders GROUP BY cid").fetchall())


def test_a_failure_midway_rolls_the_drop_back(monkeypatch):
    db = make_db()
    before, rows = internal_relations(db), contents(db, "per_country")

    def boom(con, name):
        raise duckdb.IOException("disk went away")
    monkeypatch.setattr(catalog, "remove_view", boom)
    with pytest.raises(IvmError, match="cannot drop per_country, big: disk went away; nothing was dropped"):
        db.drop("big", "per_country")
    monkeypatch.undo()
    assert internal_relations(db) == before and db.views == ["big", "per_country", "top2", "ranked"]
    db.delete("orders", "amount = 9")
    assert db.verify()["ok"] and contents(db, "per_country") != rows


def test_create_or_replace_view_redefines_a_deployed_view():
    db = make_db()
    with pytest.raises(IvmError, match="deployed already; to redefine it write CREATE OR REPLACE VIEW top2"):
        db.deploy("CREATE VIEW top2 AS SELECT 1 AS x")
    with pytest.raises(IvmError, match=r"view per_country reads view big; replace it in the same file too"):
        db.deploy("CREATE OR REPLACE VIEW big AS SELECT id, amount, 'X' AS country FROM orders")
    assert db.views == ["big", "per_country", "top2", "ranked"]
    db.deploy("CREATE OR REPLACE VIEW big AS SELECT o.id, o.amount, c.country FROM orders o "
              "LEFT JOIN customers c ON o.cid = c.id WHERE o.amount < 5;"
              "CREATE OR REPLACE VIEW per_country AS SELECT country, COUNT(*) AS n FROM big GROUP BY country;"
              "CREATE OR REPLACE VIEW fresh AS SELECT COUNT(*) AS n FROM orders")  # not deployed yet: created
    assert db.views == ["top2", "ranked", "big", "per_country", "fresh"]
    assert [c for c in db.plans["per_country"].columns] == ["country", "n"]
    for k in range(4):
        db.delete("customers", f"id = {k}")
        db.delete("orders", f"id % 4 = {k}")
        assert db.verify()["ok"]
    assert contents(db, "per_country") == Counter(db.con.execute(
        "SELECT c.country, COUNT(*) FROM orders o LEFT JOIN customers c ON o.cid = c.id WHERE o.amount < 5 "
        "GROUP BY c.country").fetchall())


def test_replacing_a_recomputed_view_removes_its_verbatim_text():
    db = make_db()
    db.deploy("CREATE VIEW piv AS PIVOT orders ON (amount + 0) IN (1, 2) USING COUNT(*) GROUP BY cid")  # ON an expression
    assert "recompute" in db.explain("piv").splitlines()[0]
    assert "_ivm_sql.__ivm_piv" in internal_relations(db)
    db.drop("piv")
    assert not any(name.endswith("piv") for name in internal_relations(db))


def test_a_feature_set_keeps_its_view():
    db = make_db()
    ml.deploy(db, ml.feature_spec("fs", "big", [ml.standard("amount")]))
    with pytest.raises(IvmError, match=r"feature set fs reads view big; drop it first \(ivm features DB --drop fs\)"):
        db.drop("per_country", "big")
    with pytest.raises(IvmError, match="feature set fs reads view big"):
        db.deploy("CREATE OR REPLACE VIEW per_country AS SELECT 1 AS x; "
                  "CREATE OR REPLACE VIEW big AS SELECT id, amount FROM orders")
    ml.drop(db, "fs")
    db.drop("per_country", "big")
    assert db.views == ["top2", "ranked"]


def test_cli_drop(tmp_path):
    path = tmp_path / "d.duckdb"
    make_db(path).close()
    run = lambda *args: subprocess.run([sys.executable, "-m", "ivm.cli", *args], capture_output=True,  # noqa: E731
                                       text=True)
    refused = run("drop", str(path), "big")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "view per_country reads view big" in refused.stderr
    done = run("drop", str(path), "big", "per_country", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("{") and '"per_country"' in done.stdout
    listed = run("verify", str(path), "--json")
    assert listed.returncode == 0 and '"big"' not in listed.stdout and '"top2"' in listed.stdout
