"""delete(strategy=...): maintaining incrementally, rebuilding, or choosing by measured cost.

The result must not depend on the strategy (tests/test_differential.py mixes them at random); these tests
pin down which views each strategy rebuilds, what the reports and the audit log say, and that a failure
during a rebuild rolls everything back.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import ivm
from ivm import audit
from ivm.cli import cli
from ivm.store import costs
from ivm.store.costs import Observation

sys.path.insert(0, str(Path(__file__).parent))
from helpers import snapshot  # noqa: E402

VIEWS = """
CREATE VIEW big AS SELECT o.id, o.cid, o.amount, c.country FROM orders o JOIN customers c ON o.cid = c.id
    WHERE o.amount > 10;
CREATE VIEW per_country AS SELECT country, SUM(amount) AS total, COUNT(*) AS n FROM big GROUP BY country;
CREATE VIEW top_orders AS SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 5;
CREATE VIEW countries AS SELECT DISTINCT country FROM customers
"""
PLAIN = {
    "big": "SELECT o.id, o.cid, o.amount, c.country FROM orders o JOIN customers c ON o.cid = c.id WHERE o.amount > 10",
    "per_country": "SELECT country, SUM(amount) AS total, COUNT(*) AS n FROM (SELECT o.id, o.cid, o.amount, c.country "
                   "FROM orders o JOIN customers c ON o.cid = c.id WHERE o.amount > 10) GROUP BY country",
    "top_orders": "SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 5",
    "countries": "SELECT DISTINCT country FROM customers",
}


@pytest.fixture
def db():
    database = ivm.connect(":memory:")
    database.load("customers", pd.DataFrame({"id": range(1, 41), "country": [["DE", "FR", "UK", "NL"][i % 4]
                                                                              for i in range(40)]}))
    database.load("orders", pd.DataFrame({"id": range(1, 401), "cid": [i % 40 + 1 for i in range(400)],
                                          "amount": [float(i * 37 % 101) for i in range(400)]}))
    database.deploy(VIEWS)
    yield database
    database.close()


def assert_current(db) -> None:
    """Each view equals its SQL run by DuckDB on the current sources (main.orders, main.customers)."""
    for name, sql in PLAIN.items():
        got = sorted(db.con.execute(f"SELECT * FROM {name}").fetchall())
        want = sorted(db.con.execute(sql).fetchall())
        assert got == want, name
    assert db.verify()["ok"]


def set_rebuild_cost(db, **seconds: float) -> None:
    db.con.execute(f"UPDATE {costs.COSTS} SET rebuild_seconds = 1e6")
    costs.record_rebuilds(db.con, seconds)


def test_incremental_is_the_default_and_deploy_measures_rebuild_costs(db):
    assert set(costs.rebuild_seconds(db.con)) == set(PLAIN)
    report = db.delete("orders", "id <= 3")
    assert not any(v["rebuilt"] for v in report["views"].values())
    assert_current(db)


def test_a_view_the_deletion_cannot_reach_says_it_was_not_affected(db):
    views = db.delete("orders", "id <= 3")["views"]
    assert {n for n, v in views.items() if not v["affected"]} == {"countries"}
    assert views["countries"]["reason"].startswith("not affected: reads no rows of orders")
    assert views["per_country"]["affected"] and views["per_country"]["deleted"] > 0  # through the view big


def test_the_cli_names_views_a_deletion_cannot_reach(tmp_path):
    path = tmp_path / "x.duckdb"
    with ivm.connect(path) as db:
        db.load("t", pd.DataFrame({"k": [1, 2, 3]}))
        db.load("u", pd.DataFrame({"j": [1, 2]}))
        db.deploy("CREATE VIEW v AS SELECT k FROM t WHERE k > 1; CREATE VIEW w AS SELECT j FROM u")
    result = CliRunner().invoke(cli, ["delete", str(path), "--from", "t", "--where", "k = 2"])
    assert result.exit_code == 0, result.output
    assert "v: -1 +0 rows, incremental" in result.output and "w: not affected (reads no rows of t)" in result.output


def test_recompute_rebuilds_every_view_the_deletion_reaches(db):
    rows = db.con.execute("SELECT COUNT(*) FROM big").fetchone()[0]
    report = db.delete("orders", "cid = 7", strategy="recompute")
    views = report["views"]
    assert {n for n, v in views.items() if v["rebuilt"]} == {"big", "per_country", "top_orders"}
    assert views["countries"] == {**views["countries"], "rebuilt": False, "deleted": 0, "inserted": 0}
    assert views["big"]["strategy"] == "recompute" and "--strategy recompute" in views["big"]["reason"]
    assert views["big"]["deleted"] == rows  # a rebuild counts old rows as deleted, new rows as inserted
    assert views["big"]["inserted"] == db.con.execute("SELECT COUNT(*) FROM big").fetchone()[0]
    assert_current(db)
    db.delete("customers", "id IN (1, 2)")  # incremental maintenance goes on from the rebuilt tables
    db.delete("orders", "amount < 30", strategy="recompute")
    db.delete("orders", "id % 3 = 0")
    assert_current(db)


def test_auto_maintains_until_it_has_measured_both_sides(db):
    db.con.execute(f"DELETE FROM {costs.COSTS}")  # e.g. views deployed before costs were measured
    first = db.delete("orders", "id <= 5", strategy="auto")
    second = db.delete("orders", "id BETWEEN 6 AND 10", strategy="auto")
    assert not any(v["rebuilt"] for r in (first, second) for v in r["views"].values())
    assert_current(db)


def test_auto_rebuilds_views_whose_measured_maintenance_costs_more(db):
    first = db.delete("orders", "id <= 5", strategy="auto")  # no observation yet: incremental
    assert not any(v["rebuilt"] for v in first["views"].values())
    set_rebuild_cost(db, big=1e-9, per_country=1e-9, top_orders=1e6)
    report = db.delete("orders", "id BETWEEN 6 AND 20", strategy="auto")
    rebuilt = {n for n, v in report["views"].items() if v["rebuilt"]}
    assert rebuilt == {"big", "per_country"}
    assert "estimated" in report["views"]["big"]["reason"] and "--strategy auto" in report["views"]["big"]["reason"]
    assert_current(db)
    log = db.con.execute(f"SELECT detail FROM {audit.LOG} ORDER BY id").fetchall()
    assert '"rebuilt": true' in log[-1][0] and '"rebuilt": false' in log[0][0]


def test_auto_never_rebuilds_a_view_that_a_maintained_view_reads(db):
    db.delete("orders", "id <= 5")
    set_rebuild_cost(db, big=1e-9)  # per_country (which reads big) stays incremental, so big must too
    report = db.delete("orders", "id BETWEEN 6 AND 20", strategy="auto")
    assert not any(v["rebuilt"] for v in report["views"].values())
    set_rebuild_cost(db, per_country=1e-9)  # a reader alone may be rebuilt
    report = db.delete("orders", "id BETWEEN 21 AND 30", strategy="auto")
    assert {n for n, v in report["views"].items() if v["rebuilt"]} == {"per_country"}
    assert_current(db)


def test_a_failure_during_a_rebuild_changes_nothing(db):
    db.delete("orders", "id <= 5")
    before = snapshot(db.con)

    def boom(stage):
        if stage.name == "per_country":
            raise RuntimeError("injected failure")
    with pytest.raises(RuntimeError, match="injected"):
        db.delete("orders", "cid = 3", strategy="recompute", _hook=boom)
    assert snapshot(db.con) == before
    assert_current(db)


def test_unknown_strategy_is_a_clear_error(db, tmp_path):
    with pytest.raises(ivm.IvmError, match="unknown strategy 'fast'"):
        db.delete("orders", "id = 1", strategy="fast")
    path = tmp_path / "x.duckdb"
    with ivm.connect(path) as other:
        other.load("t", pd.DataFrame({"k": [1, 2, 3]}))
        other.deploy("CREATE VIEW v AS SELECT k FROM t WHERE k > 1")
    result = CliRunner().invoke(cli, ["delete", str(path), "--from", "t", "--where", "k = 2", "--strategy", "fast"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["delete", str(path), "--from", "t", "--where", "k = 2", "--strategy",
                                      "recompute", "--json"])
    assert result.exit_code == 0, result.output
    assert '"rebuilt": true' in result.output


@pytest.mark.parametrize("observed, rows, rebuild, rebuilds", [
    (Observation(1000, 0.100), 1000, 0.020, True),    # 5x dearer than a rebuild
    (Observation(1000, 0.100), 10, 0.025, False),     # 25 ms for 100x fewer rows (power 0.3)
    (Observation(1000, 0.024), 1000, 0.020, False),   # within the margin
    (Observation(10, 0.030), 1000, 0.020, True),      # 120 ms for 100x the rows
    (Observation(10, 0.030, 0.2), 1000, 0.070, False),  # fitted: grows slowly (75 ms)
    (Observation(10, 0.030), 10, 0.050, False),
    (None, 1000, 0.001, False),                       # nothing measured: maintain
    (Observation(1000, 0.100), 1000, None, False),
])
def test_rebuild_reason(observed, rows, rebuild, rebuilds):
    assert (costs.rebuild_reason(observed, rebuild, rows) is not None) == rebuilds


def test_estimate_scales_by_a_power_of_the_rows():
    assert costs.estimate(Observation(100, 0.05), 400) == pytest.approx(0.05 * 4 ** 0.3)
    assert costs.estimate(Observation(100, 0.05, 1.0), 50) == pytest.approx(0.025)
    assert costs.estimate(Observation(0, 0.05), 0) == pytest.approx(0.05)


def test_the_exponent_is_fitted_from_two_deletions_of_different_sizes(db):
    db.delete("orders", "id <= 2")
    db.delete("orders", "id BETWEEN 3 AND 6")  # twice the rows
    observed = costs.observations(db.con, "orders", ["big"])["big"]
    assert observed.rows == 4 and 0.2 <= observed.exponent <= 1.0
    assert costs.fitted(Observation(100, 0.1), Observation(1000, 1.0)).exponent == pytest.approx(1.0)
    assert costs.fitted(Observation(100, 0.1), Observation(10000, 0.4)).exponent == pytest.approx(0.301, abs=1e-3)
    assert costs.fitted(Observation(100, 0.1), Observation(1000, 0.1)).exponent == 0.2


def test_closed_keeps_only_views_whose_readers_are_rebuilt_too():
    readers = {"a": {"b"}, "b": {"c"}}
    assert costs.closed({"a", "b", "c"}, readers) == {"a", "b", "c"}
    assert costs.closed({"a", "b"}, readers) == set()
    assert costs.closed({"a", "c"}, readers) == {"c"}
