"""Property-based differential tests of the ML layer: random data, random prep views, random feature specs,
random deletions; after each deletion the exported X, y, split and lineage equal an independent full rerun
(``ml_oracle``): exact for ids, split, categories and labels, a relative 1e-9 for floats.
"""
from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

import ivm
from ivm import ml

sys.path.insert(0, str(Path(__file__).parent))
import ml_oracle  # noqa: E402

SCALE = float(os.environ.get("IVM_DIFF_EXAMPLES", "1"))
SETTINGS = dict(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate] if os.environ.get("IVM_NO_SHRINK") else list(Phase), suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WORDS = ["good", "bad", "ok", "great", "x1", "Good", "meh"]
CITIES = [None, "Oslo", "Rome", "Lima", "Baku"]
SCORES = [None, 0.0, 0.5, -1.25, 2.0, 3.75, 10.5, -7.0]

PERSON = st.fixed_dictionaries({
    "grp": st.integers(0, 3),
    "age": st.none() | st.integers(0, 90),
    "income": st.integers(-4000, 40000).map(lambda c: Decimal(c) / 4),
    "score": st.sampled_from(SCORES),
    "city": st.sampled_from(CITIES),
    "note": st.none() | st.lists(st.sampled_from(WORDS), max_size=4).map(lambda ws: ", ".join(ws)),
})


def people_table(rows) -> pa.Table:
    return pa.table({"id": pa.array(range(1, len(rows) + 1), pa.int64()),
                     "grp": pa.array([r["grp"] for r in rows], pa.int64()),
                     "age": pa.array([r["age"] for r in rows], pa.int32()),
                     "income": pa.array([r["income"] for r in rows], pa.decimal128(10, 2)),
                     "score": pa.array([r["score"] for r in rows], pa.float64()),
                     "city": pa.array([r["city"] for r in rows], pa.string()),
                     "note": pa.array([r["note"] for r in rows], pa.string())})


def events_table(rows) -> pa.Table:
    return pa.table({"id": pa.array(range(1, len(rows) + 1), pa.int64()),
                     "pid": pa.array([r[0] for r in rows], pa.int64()),
                     "amount": pa.array([r[1] for r in rows], pa.int64()),
                     "tag": pa.array([r[2] for r in rows], pa.string())})


FILTERS = ["true", "age IS NULL OR age > 20", "grp <> 1", "score >= 0 OR score IS NULL"]
PERSON_COLS = "grp, age, income, score, city, note"


def prep_templates(where: str) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (ivm view SQL, oracle SQL with lineage columns, source of each lineage column)."""
    qualified = where.replace("age", "p.age").replace("grp", "p.grp").replace("score", "p.score")
    cols_p = ", ".join(f"p.{c}" for c in PERSON_COLS.split(", "))
    return {
        "single": (f"CREATE VIEW prep AS SELECT id, {PERSON_COLS} FROM people WHERE {where}",
                   f"SELECT __ivm_rid AS s0, id, {PERSON_COLS} FROM people WHERE {where}", ["people"]),
        "join": (f"CREATE VIEW prep AS SELECT e.id AS eid, {cols_p}, e.amount, e.tag "
                 f"FROM events e JOIN people p ON e.pid = p.id WHERE {qualified}",
                 f"SELECT e.__ivm_rid AS s0, p.__ivm_rid AS s1, e.id AS eid, {cols_p}, e.amount, e.tag "
                 f"FROM events e JOIN people p ON e.pid = p.id WHERE {qualified}", ["events", "people"]),
        "view_on_view": (f"CREATE VIEW adults AS SELECT id, {PERSON_COLS} FROM people WHERE age IS NULL OR age >= 18;"
                         f"CREATE VIEW prep AS SELECT a.grp, a.age, a.income, a.score, a.city, a.note, e.amount, e.tag "
                         f"FROM adults a JOIN events e ON e.pid = a.id",
                         f"SELECT p.__ivm_rid AS s0, e.__ivm_rid AS s1, {cols_p}, e.amount, e.tag FROM people p "
                         f"JOIN events e ON e.pid = p.id WHERE p.age IS NULL OR p.age >= 18", ["people", "events"]),
        "union_all": (f"CREATE VIEW prep AS SELECT id, {PERSON_COLS} FROM people WHERE grp = 0 "
                      f"UNION ALL SELECT id, {PERSON_COLS} FROM people WHERE {where}",
                      f"SELECT __ivm_rid AS s0, 0 AS s1, id, {PERSON_COLS} FROM people WHERE grp = 0 UNION ALL "
                      f"SELECT 0 AS s0, __ivm_rid AS s1, id, {PERSON_COLS} FROM people WHERE {where}",
                      ["people", "people"]),
    }


def note_length(values):
    """A vectorised scalar UDF (NULL text gives NaN)."""
    lengths = np.asarray(values.cast("string").to_pandas().str.len(), dtype=float)
    return lengths


def age_vector(values):
    ages = np.asarray(values.to_pandas(), dtype=float)
    return np.column_stack([ages, ages * ages / 100.0])


LABELS = {
    None: (None, lambda r: None),
    "grp >= 2": ("grp >= 2", lambda r: r["grp"] >= 2),
    "age > 30": ("age > 30", lambda r: None if r["age"] is None else r["age"] > 30),
    "income": ("income", lambda r: r["income"]),
}


@st.composite
def feature_specs(draw, numeric: list[str], categorical: list[str], text: list[str]):
    features = []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["passthrough", "standard", "minmax", "onehot", "bucket_edges", "bucket_bins",
                                     "hash", "udf", "udf_vector"]))
        name = f"f{i}"
        if kind in ("passthrough", "standard", "minmax"):
            features.append({kind: draw(st.sampled_from(numeric)), "name": name})
        elif kind == "onehot":
            features.append({"onehot": draw(st.sampled_from(categorical)), "name": name})
        elif kind == "bucket_edges":
            edges = sorted(draw(st.sets(st.integers(-5, 95), min_size=1, max_size=3)))
            features.append({"bucket": draw(st.sampled_from(numeric)), "edges": edges, "name": name})
        elif kind == "bucket_bins":
            features.append({"bucket": draw(st.sampled_from(numeric)), "bins": draw(st.integers(1, 4)), "name": name})
        elif kind == "hash":
            features.append({"hash": draw(st.sampled_from(text)), "dims": draw(st.integers(1, 5)), "name": name})
        elif kind == "udf":
            features.append({"udf": "tests:note_length", "column": "note", "name": name})
        else:
            features.append({"udf": "tests:age_vector", "column": "age", "dims": 2, "name": name})
    return features


def deletion(draw, has_events: bool):
    table = draw(st.sampled_from(["people", "events"] if has_events else ["people"]))
    if table == "events":
        return table, draw(st.sampled_from([f"id IN ({draw(st.integers(1, 12))}, {draw(st.integers(1, 12))})",
                                            f"amount < {draw(st.integers(0, 5))}", "tag = 'b'"]))
    return table, draw(st.sampled_from([f"id IN ({draw(st.integers(1, 12))}, {draw(st.integers(1, 12))})",
                                        f"grp = {draw(st.integers(0, 3))}", f"age < {draw(st.integers(0, 60))}",
                                        "city = 'Rome'", "score < 0"]))


@settings(max_examples=max(1, int(25 * SCALE)), **SETTINGS)
@given(data=st.data())
def test_exports_equal_a_full_rerun(data):
    people = data.draw(st.lists(PERSON, min_size=1, max_size=12), label="people")
    events = data.draw(st.lists(st.tuples(st.integers(1, 13), st.integers(0, 6), st.sampled_from([None, "a", "b"])),
                                max_size=12), label="events")
    where = data.draw(st.sampled_from(FILTERS), label="filter")
    template = data.draw(st.sampled_from(["single", "join", "view_on_view", "union_all"]), label="prep")
    view_sql, oracle_sql, sources = prep_templates(where)[template]
    has_events = template in ("join", "view_on_view")
    numeric = ["grp", "age", "income", "score"] + (["amount"] if has_events else [])
    categorical = ["city", "grp"] + (["tag"] if has_events else [])
    features = data.draw(feature_specs(numeric, categorical, ["note", "city"]), label="features")
    label_key = data.draw(st.sampled_from(list(LABELS)), label="label")
    split = {"test_fraction": data.draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])), "seed": data.draw(st.integers(0, 3))}
    spec = {"name": "fs", "from": "prep", "label": LABELS[label_key][0], "split": split, "features": features}
    dels = [deletion(data.draw, has_events) for _ in range(data.draw(st.integers(1, 3), label="deletions"))]
    # the prep view rebuilt instead of maintained: the feature rows follow source lineage either way
    strategy = data.draw(st.sampled_from(["incremental", "incremental", "recompute", "auto"]), label="strategy")
    note(f"prep: {view_sql}\nspec: {spec}\ndeletions: {dels}")
    scenario(people, events, template, where, spec, label_key, dels, strategy)


def scenario(people, events, template, where, spec, label_key, dels, strategy="incremental"):
    view_sql, oracle_sql, sources = prep_templates(where)[template]
    features = spec["features"]

    functions = {"note_length": note_length, "age_vector": age_vector}
    db = ivm.connect(":memory:")
    oracle = duckdb.connect()
    try:
        db.load("people", people_table(people))
        db.load("events", events_table(events))
        db.deploy(view_sql)
        ml.deploy(db, ml.parse(spec), udfs=functions)
        for table in ("people", "events"):  # the oracle's own copies, row ids included
            oracle.register("__copy", db.con.sql(f'SELECT * FROM "_ivm"."{table}"').to_arrow_table())
            oracle.execute(f"CREATE TABLE {table} AS SELECT * FROM __copy")
            oracle.unregister("__copy")
        udf_by_name = {f["name"]: functions[f["udf"].split(":")[1]] for f in features if "udf" in f}
        lineage_names = [f"{s}_rid" + ("_2" if sources[:i].count(s) else "") for i, s in enumerate(sources)]

        def check(when):
            cursor = oracle.execute(oracle_sql)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r)) for r in cursor.fetchall()]
            lineage = [f"s{j}" for j in range(len(sources))]
            want = ml_oracle.rerun(rows, lineage, spec, udf_by_name, LABELS[label_key][1])
            ml_oracle.assert_equal(ml.training_set(db, "fs"), want, lineage_names, when)

        check("after deploy")
        for table, where_del in dels:
            db.delete(table, where_del, strategy=strategy)
            oracle.execute(f"DELETE FROM {table} WHERE {where_del}")
            check(f"after deleting {where_del} from {table}")
        assert db.verify()["ok"]
    finally:
        db.close()
        oracle.close()
