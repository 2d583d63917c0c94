"""Plans stored in the database file (ivm/store/plan_cache.py): used only where planning again would give the
same plan, never trusted beyond the closed set of classes, and a change to what planning reads is a miss."""
from __future__ import annotations

import dataclasses
import json

import duckdb
import pytest
from sqlglot import exp

import ivm
from ivm.delta.templates import StaleTemplate
from ivm.plan import build
from ivm.store import engine, plan_cache, template_cache

VIEWS = """
CREATE VIEW per_country AS
SELECT c.country, COUNT(*) AS n, SUM(o.amount) AS total, MAX(o.amount) AS largest
FROM orders o JOIN customers c ON o.cid = c.id GROUP BY c.country;
CREATE VIEW big AS SELECT country, total FROM per_country WHERE total > 100;
CREATE VIEW ranked AS
SELECT id, cid, amount, rank() OVER (PARTITION BY cid ORDER BY amount DESC) AS r FROM orders;
CREATE VIEW lonely AS
SELECT c.id, c.country FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.cid = c.id);
"""


def make(path):
    maker = duckdb.connect()
    with ivm.connect(path) as db:
        db.load("customers", maker.sql("SELECT i AS id, ['UK', 'FR', 'DE'][1 + i % 3] AS country "
                                       "FROM range(15) r(i)").to_arrow_table())
        db.load("orders", maker.sql("SELECT i AS id, i % 12 AS cid, (i * 7) % 50 AS amount "
                                    "FROM range(120) r(i)").to_arrow_table())
        db.deploy(VIEWS)
        return {name: plan_cache.encode(plan) for name, plan in db.plans.items()}


@pytest.fixture
def planned(monkeypatch):
    """Counts the views planned from their SQL."""
    calls = []
    original = engine.plan_view

    def counting(name, *args, **kwargs):
        calls.append(name)
        return original(name, *args, **kwargs)
    monkeypatch.setattr(engine, "plan_view", counting)
    monkeypatch.setenv("IVM_PLAN_CACHE", "on")
    return calls


def test_reopening_reads_the_stored_plans_and_they_maintain_the_views(tmp_path, planned):
    path = tmp_path / "db.duckdb"
    deployed = make(path)
    planned.clear()
    for k in range(3):
        with ivm.connect(path) as db:
            assert {name: plan_cache.encode(plan) for name, plan in db.plans.items()} == deployed
            db.delete("orders", f"id % 7 = {k}")
            db.delete("customers", f"id = {k}")
            assert db.verify()["ok"]
    assert planned == []  # nothing was planned again


def test_a_view_deployed_or_dropped_beside_keeps_the_others_stored(tmp_path, planned):
    path = tmp_path / "db.duckdb"
    make(path)
    with ivm.connect(path) as db:
        db.deploy("CREATE VIEW uk AS SELECT id FROM customers WHERE country = 'UK';")
    planned.clear()
    with ivm.connect(path) as db:
        db.drop("lonely")
    assert planned == []
    with ivm.connect(path) as db:
        assert db.views == ["per_country", "big", "ranked", "uk"]
        db.delete("customers", "id < 4")
        assert db.verify()["ok"]
    assert planned == []


def test_a_change_to_what_planning_reads_is_a_miss(tmp_path, planned, monkeypatch):
    path = tmp_path / "db.duckdb"
    make(path)
    planned.clear()
    with ivm.connect(path) as db:  # a macro may be read by any view: every view is planned again
        db.con.execute("CREATE MACRO twice(x) AS x * 2")
    with ivm.connect(path) as db:
        assert db.verify()["ok"]
    assert sorted(planned) == ["big", "lonely", "per_country", "ranked"]
    planned.clear()
    with ivm.connect(path) as db:  # a command that changes nothing does not store them either ...
        before = db.con.execute("SELECT * FROM _ivm.__plans ORDER BY name").fetchall()
        db.explain()
    with ivm.connect(path) as db:
        assert db.con.execute("SELECT * FROM _ivm.__plans ORDER BY name").fetchall() == before
        db.delete("orders", "id = 3")  # ... a change does, after it committed
    assert sorted(planned) == ["big", "big", "lonely", "lonely", "per_country", "per_country", "ranked", "ranked"]
    planned.clear()
    with ivm.connect(path):
        pass
    assert planned == []  # stored again under the new keys
    monkeypatch.setattr(plan_cache, "code_fingerprint", lambda: "another version of ivm")
    with ivm.connect(path) as db:
        db.delete("orders", "amount > 40")
        assert db.verify()["ok"]
    assert sorted(planned) == ["big", "lonely", "per_country", "ranked"]


def test_off_never_reads_them(tmp_path, planned, monkeypatch):
    path = tmp_path / "db.duckdb"
    make(path)
    planned.clear()
    monkeypatch.setenv("IVM_PLAN_CACHE", "off")
    with ivm.connect(path):
        pass
    assert sorted(planned) == ["big", "lonely", "per_country", "ranked"]
    monkeypatch.setenv("IVM_PLAN_CACHE", "sometimes")
    with pytest.raises(ivm.IvmError, match="IVM_PLAN_CACHE must be on, check or off"):
        ivm.connect(path)


def test_entries_naming_other_classes_or_garbage_are_planned_again_and_run_nothing(tmp_path, planned):
    path = tmp_path / "db.duckdb"
    make(path)
    marker = tmp_path / "ran"
    payloads = [
        # sqlglot's loader would import this module and call the class
        {"x": [{"c": "subprocess.Popen"}]},
        {"x": [{"c": "sqlglot.expressions.query.Select", "t": [{"c": "os.system"}]}]},
        {"n": "Popen", "f": {"args": ["touch", str(marker)]}},
        "not json at all {",
    ]
    for payload in payloads:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        _rewrite(path, "per_country", text)  # signed, as if the key were known: the decoder still refuses
        planned.clear()
        with ivm.connect(path) as db:
            assert "per_country" in planned
            db.delete("orders", "id = 5")
            assert db.verify()["ok"]
        assert not marker.exists()


def _rewrite(path, name: str, text: str) -> None:
    """Replace entry ``name``'s text, keeping its key, signed as ivm signs entries."""
    con = duckdb.connect(str(path))
    try:
        entry_key = plan_cache.read(con)[name][0]
        plan_cache.write(con, {name: (entry_key, text)})
    finally:
        con.close()


def test_decoding_accepts_only_sqlglot_expression_classes():
    assert plan_cache._expression_class("sqlglot.expressions.query.Select")
    assert plan_cache._expression_class("Column")
    for kind in ("subprocess.Popen", "os.system", "sqlglot.expressions.query.Popen", "sqlglot.parser.Parser",
                 "sqlglot.expressions.core.Expression.__subclasses__", "builtins.eval"):
        assert not plan_cache._expression_class(kind), kind
    with pytest.raises(ValueError):
        plan_cache.decode(json.dumps({"n": "ViewPlan", "f": {"name": {"x": [{"c": "builtins.eval"}]},
                                                             "sql": "", "columns": {"t": []}, "stages": {"t": []}}}))


def test_replacing_a_view_in_a_database_with_macros_reads_back(tmp_path, monkeypatch):
    """Found by a hunt: with a macro in the database a key covers every relation, so replacing v1 changed the key
    v2 would get; the entry vouching for all plans kept v2's older key, and check mode called that a difference
    although the plan is the same (the key covers more than the plan reads). Check mode now compares what an
    open would read: the plans and schema."""
    path = tmp_path / "db.duckdb"
    with ivm.connect(path) as db:
        db.load("a", duckdb.sql("SELECT i AS k, i + 3 AS v FROM range(1, 4) r(i)").arrow())
        db.con.execute("CREATE MACRO m(x) AS x + 1")
        db.deploy("CREATE VIEW v1 AS SELECT k FROM a; CREATE VIEW v2 AS SELECT k, v FROM a")
    with ivm.connect(path) as db:
        db.deploy("CREATE OR REPLACE VIEW v1 AS SELECT k, v FROM a WHERE v > 4")
    monkeypatch.setenv("IVM_PLAN_CACHE", "check")
    with ivm.connect(path) as db:
        db.delete("a", "k = 3")
        assert db.verify()["ok"]
        assert db.con.execute("SELECT * FROM v1").fetchall() == [(2, 5)]


def test_a_load_vouches_for_the_stored_plans_again(tmp_path, planned, monkeypatch):
    """Found by a hunt: after loading a source (which changes the file's definitions) every open planned the
    views again until a deploy, drop, deletion or recompute stored them; a load now stores them itself."""
    path = tmp_path / "db.duckdb"
    make(path)
    with ivm.connect(path) as db:
        db.load("extra", duckdb.sql("SELECT 1 AS x").arrow())
    planned.clear()
    restores = []
    original = plan_cache.restore
    monkeypatch.setattr(plan_cache, "restore", lambda *a: restores.append(original(*a)) or restores[-1])
    with ivm.connect(path) as db:
        assert db.verify()["ok"]
    assert planned == [] and restores[-1] is not None  # read whole, not planned


def test_a_stored_plan_of_another_view_is_not_used(tmp_path, planned):
    """Found by a hunt: plan texts swapped between two views in the table (keys kept) were used under the
    other name; a stored plan must be the view's own."""
    path = tmp_path / "db.duckdb"
    make(path)
    con = duckdb.connect(str(path))
    rows = dict(con.execute("SELECT name, plan FROM _ivm.__plans").fetchall())
    con.close()
    _rewrite(path, "big", rows["ranked"])  # signed anew, as if the key were known
    _rewrite(path, "ranked", rows["big"])
    planned.clear()
    with ivm.connect(path) as db:
        assert sorted(planned) == ["big", "ranked"]
        assert [s.name for s in db.plans["big"].stages][-1] == "big"
        db.delete("orders", "id < 10")
        assert db.verify()["ok"]


# -- statement texts stored with the plans (ivm/store/template_cache.py) --------------------------------
def _stored_texts(path) -> dict:
    con = duckdb.connect(str(path))
    try:
        stored = plan_cache.read(con)
    finally:
        con.close()
    if template_cache.NAME not in stored:
        return {}
    assert stored[template_cache.NAME][0] == stored[plan_cache.WHOLE][0]  # under the plans' definitions
    return template_cache.decode(stored[template_cache.NAME][1])


def _tamper(path, change) -> None:
    """Change the stored texts, signed as ivm signs them (as if the key were known)."""
    texts = change(_stored_texts(path))
    _rewrite(path, template_cache.NAME, template_cache.encode(texts))


def test_statement_texts_rendered_in_one_process_are_used_by_the_next(tmp_path, planned):
    path = tmp_path / "db.duckdb"
    make(path)
    planned.clear()
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 0")
        db.delete("customers", "id = 3")
        rendered = db._templates.rendered
    assert rendered > 10 and len(_stored_texts(path)) >= rendered
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 1")
        db.delete("customers", "id = 4")
        assert db._templates.rendered == 0  # every statement came from the file
        assert db.verify()["ok"]
    assert planned == []


def test_stored_texts_that_are_not_one_delta_statement_are_rendered_again(tmp_path, planned):
    path = tmp_path / "db.duckdb"
    make(path)
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 0")
    written = tmp_path / "written.csv"
    bad = [f"COPY (SELECT 42) TO '{written}'", f"SELECT 1; COPY (SELECT 42) TO '{written}'",
           f"SELECT 1 -- '\n; COPY (SELECT 42) TO '{written}' --'", "DROP TABLE _ivm.orders"]
    _tamper(path, lambda texts: {key: bad[i % len(bad)] for i, key in enumerate(texts)})
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 1")
        db.delete("customers", "id < 3")
        assert db._templates.rendered > 0
        assert db.verify()["ok"]
    assert not written.exists()
    assert all(text not in bad for text in _stored_texts(path).values())  # the rendered ones replaced them


def test_check_mode_compares_stored_texts_with_rendering_them(tmp_path, monkeypatch):
    path = tmp_path / "db.duckdb"
    make(path)
    monkeypatch.setenv("IVM_PLAN_CACHE", "check")
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 0")
    _tamper(path, lambda texts: {key: text.replace("DELETE FROM", "DELETE FROM  ") for key, text in texts.items()})
    with ivm.connect(path) as db:
        with pytest.raises(StaleTemplate):
            db.delete("orders", "id % 7 = 1")


def test_texts_stored_before_a_deploy_are_not_used_after_it(tmp_path, planned):
    path = tmp_path / "db.duckdb"
    make(path)
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 0")
    before = _stored_texts(path)
    _tamper(path, lambda texts: {key: text.replace("DELETE FROM", "DELETE FROM  ") for key, text in texts.items()})
    with ivm.connect(path) as db:
        db.deploy("CREATE VIEW uk AS SELECT id FROM customers WHERE country = 'UK';")
    with ivm.connect(path) as db:
        assert not db._templates.entries()  # stored under the definitions before the deploy
        db.delete("orders", "id % 7 = 1")
        assert db.verify()["ok"]
    after = _stored_texts(path)
    assert all(after[key] == text for key, text in before.items() if key in after)


# -- signatures (ivm/store/signing.py) -------------------------------------------------------------------
def _trees(value):
    """The sqlglot trees inside a plan."""
    if isinstance(value, exp.Expression):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _trees(item)
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _trees(getattr(value, field.name))


def test_entries_changed_outside_ivm_are_not_read(tmp_path, planned):
    """A plan or statement text written by anything but ivm is not read, even with the key column kept: its
    signature does not check, so the view is planned again. (A sqlglot tree renders as any text, a COPY too;
    here the changed plan filters differently, which a recompute would show.)"""
    path = tmp_path / "db.duckdb"
    make(path)
    with ivm.connect(path) as db:
        db.delete("orders", "id % 7 = 0")
    con = duckdb.connect(str(path))
    entry_key, text = plan_cache.read(con)["big"]
    plan = plan_cache.decode(text)
    threshold = next(node for tree in _trees(plan) for node in tree.find_all(exp.Literal) if node.this == "100")
    threshold.replace(exp.Literal.number(0))
    con.execute("UPDATE _ivm.__plans SET plan = ? WHERE name = 'big'", [plan_cache.encode(plan)])
    texts = template_cache.decode(con.execute(
        "SELECT plan FROM _ivm.__plans WHERE name = ?", [template_cache.NAME]).fetchall()[0][0])
    con.execute("UPDATE _ivm.__plans SET plan = ? WHERE name = ?",
                [template_cache.encode({key: "SELECT 1" for key in texts}), template_cache.NAME])
    con.close()
    planned.clear()
    with ivm.connect(path) as db:
        assert planned == ["big"]
        assert not db._templates.entries()
        db.delete("orders", "id % 7 = 1")
        db.recompute()
        assert db.verify()["ok"]


def test_another_key_reads_nothing_and_no_key_stores_nothing(tmp_path, planned, monkeypatch):
    path = tmp_path / "db.duckdb"
    make(path)
    planned.clear()
    monkeypatch.setenv("IVM_KEY_FILE", str(tmp_path / "other" / "key"))  # another user, another machine
    with ivm.connect(path) as db:
        db.delete("orders", "id = 1")
    assert sorted(planned) == ["big", "lonely", "per_country", "ranked"]
    assert (tmp_path / "other" / "key").stat().st_mode & 0o777 == 0o600
    planned.clear()
    with ivm.connect(path) as db:  # the entries it stored after the deletion are read under its key
        assert db.verify()["ok"]
    assert planned == []
    unusable = tmp_path / "file"
    unusable.write_text("")
    monkeypatch.setenv("IVM_KEY_FILE", str(unusable / "key"))  # a key that cannot be made
    with ivm.connect(path) as db:
        db.delete("orders", "id = 2")
        assert db.verify()["ok"]
    assert sorted(planned) == ["big", "lonely", "per_country", "ranked"]


def test_a_view_definition_changed_outside_ivm_is_never_run(tmp_path, monkeypatch):
    """Found while reviewing what ivm runs from the file: a view the planner cannot split runs its stored text
    verbatim, so a second statement appended to it ran at the next recompute."""
    path = tmp_path / "db.duckdb"
    with ivm.connect(path) as db:
        db.load("t", duckdb.sql("SELECT range AS x FROM range(5)").arrow())
        db.deploy("CREATE VIEW v AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
                  "SELECT n FROM r, t WHERE n = x")
        assert db.explain("v").splitlines()[0].startswith("view v: recompute")
    marker = tmp_path / "written.csv"
    con = duckdb.connect(str(path))
    con.execute(f"UPDATE _ivm.__views SET sql = sql || '; COPY (SELECT 42) TO ''{marker}''' WHERE name = 'v'")
    con.close()
    monkeypatch.setenv("IVM_PLAN_CACHE", "off")
    with pytest.raises(ivm.IvmError, match="view v stored in .* is not one query: the file was changed outside ivm"):
        with ivm.connect(path) as db:
            db.recompute()
    assert not marker.exists()


def test_a_text_the_lexical_check_turns_down_is_rendered_but_not_stored_again(tmp_path, planned):
    """A stored text holding a backslash or a `$` (a literal of the user's) is never run from the file; each
    process renders it again, which must not count as new, or every deletion would store every text again."""
    path = tmp_path / "db.duckdb"
    with ivm.connect(path) as db:
        db.load("t", duckdb.sql("SELECT i AS k, CASE WHEN i % 2 = 0 THEN 'a\\\\b' ELSE '$x' END AS s "
                                "FROM range(20) r(i)").arrow())
        db.deploy("CREATE VIEW v AS SELECT k, s, row_number() OVER (PARTITION BY s ORDER BY k) AS r FROM t "
                  "WHERE s <> 'c\\\\d$'")  # the partitions' fresh rows are re-read through this WHERE
        db.delete("t", "k = 1")
    before = _stored_texts(path)
    assert any("c\\\\d$" in text for text in before.values())
    with ivm.connect(path) as db:
        db.delete("t", "k = 2")
        assert db._templates.rendered == 0  # rendered again, as it was stored
        assert db.verify()["ok"]
    assert _stored_texts(path) == before
