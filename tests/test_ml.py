"""The ML layer through its Python API: UDF values computed once per row lineage, stable splits, statistics
that follow deletions, the audit log, and bad input that changes nothing."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import ivm
from ivm import IvmError, audit, ml
from ivm.compare_run import training_sets_equal

sys.path.insert(0, str(Path(__file__).parent))
from helpers import snapshot  # noqa: E402

VIEWS = """
CREATE VIEW prep AS
SELECT r.id, r.stars, r.body, r.price, c.country, c.age, r.stars >= 4 AS liked
FROM reviews r JOIN customers c ON r.cid = c.id WHERE r.body IS NOT NULL
"""


def make_db(path=":memory:", n=60):
    db = ivm.connect(path)
    maker = duckdb.connect()
    db.load("customers", maker.sql("SELECT i AS id, ['UK','DE','FR','IT'][1 + i % 4] AS country, 18 + i * 3 % 50 AS age "
                                   "FROM range(1, 13) r(i)").to_arrow_table())
    db.load("reviews", maker.sql(f"SELECT i AS id, 1 + i % 12 AS cid, 1 + i % 5 AS stars, "
                                 f"CASE WHEN i % 9 = 0 THEN NULL ELSE 'great product ' || i || ' bad box' END AS body, "
                                 f"(i * 1.25)::DECIMAL(10, 2) AS price FROM range({n}) r(i)").to_arrow_table())
    db.deploy(VIEWS)
    return db


class Counting:
    """A UDF that counts its calls and the rows it saw, and returns the call number (so a value computed
    again would change)."""

    def __init__(self, dims=0):
        self.calls, self.rows, self.seen, self.dims = 0, 0, [], dims

    def __call__(self, values: pa.Array):
        self.calls += 1
        self.rows += len(values)
        self.seen += values.to_pylist()
        out = np.full(len(values), float(self.calls))
        return np.column_stack([out] * self.dims) if self.dims else out


def spec(score, vector=None, **options):
    features = [ml.passthrough("stars"), ml.standard("price"), ml.minmax("age"), ml.onehot("country"),
                ml.bucket("age", edges=[30, 50]), ml.bucket("price", bins=3), ml.hashed("body", dims=4),
                ml.udf(score, "body", name="score")]
    if vector is not None:
        features.append(ml.udf(vector, "body", dims=3, name="embedding"))
    return ml.feature_spec("reviews_fs", "prep", features, label="liked", **options)


def rerun_of(db) -> ml.TrainingSet:
    """A full rerun: the same sources (row ids included) in a fresh database, everything computed anew."""
    fresh = ivm.connect(":memory:")
    for source in ("customers", "reviews"):
        rows = db.con.sql(f'SELECT * FROM "_ivm"."{source}"').to_arrow_table()
        fresh.load(source, rows.drop_columns(["__ivm_rid"]))
        fresh.con.execute(f'DELETE FROM "_ivm"."{source}"')
        fresh.con.register("__rows", rows)
        fresh.con.execute(f'INSERT INTO "_ivm"."{source}" SELECT * FROM __rows')
        fresh.con.unregister("__rows")
    fresh.deploy(VIEWS)
    fs = ml.get(db, "reviews_fs")
    functions = {f.name: Counting(f.dims) for f in fs.spec.udf_features}  # one batch: the values of call 1
    ml.deploy(fresh, fs.spec, udfs=functions)
    return ml.training_set(fresh, "reviews_fs")


def test_udf_is_called_once_per_row_lineage_never_for_retained_rows(tmp_path):
    score, vector = Counting(), Counting(dims=3)
    path = tmp_path / "ml.duckdb"
    db = make_db(path)
    report = ml.deploy(db, spec(score, vector))
    rows = db.con.execute("SELECT COUNT(*) FROM prep").fetchall()[0][0]
    assert score.rows == vector.rows == rows == report["rows"] and report["udf_rows"] == {"score": rows,
                                                                                          "embedding": rows}
    before = ml.training_set(db, "reviews_fs")
    for where in ("id IN (3, 4)", "stars = 2", "cid = 5"):
        db.delete("reviews", where)
        db.delete("customers", "id = 7") if where == "stars = 2" else None
    assert score.rows == vector.rows == rows  # no call on deletion
    after = ml.training_set(db, "reviews_fs")
    kept = {tuple(i): v for i, v in zip(after.ids_train, after.X_train[:, after.feature_names.index("score")])}
    assert kept and all(v == 1.0 for v in kept.values())  # the values of the first (only) call, still stored
    assert len(after.y_train) + len(after.y_test) < len(before.y_train) + len(before.y_test)
    db.close()

    db = ivm.connect(path)  # another session: the functions are not even importable, and not needed
    db.delete("reviews", "id = 10")
    # BUG (found by a hunt): a recompute bringing no new row looked the functions up anyway and failed
    assert db.recompute()["features"]["reviews_fs"]["udf_rows"] == {"score": 0, "embedding": 0}
    # new source rows (as after a reload) reach the feature set through a recompute: only they are computed
    db.con.execute("""INSERT INTO "_ivm"."reviews" SELECT 1000 + i, 1000 + i, 1, 5, 'new ' || i, 1.0
                      FROM range(4) r(i)""")
    ml.features.register_functions(db, "reviews_fs", {"score": score, "embedding": vector})
    report = db.recompute()
    assert report["features"]["reviews_fs"]["udf_rows"] == {"score": 4, "embedding": 4}
    assert score.rows == vector.rows == rows + 4 and score.seen[-4:] == [f"new {i}" for i in range(4)]
    final = ml.training_set(db, "reviews_fs")
    column = final.feature_names.index("score")
    values = np.concatenate([final.X_train[:, column], final.X_test[:, column]])
    assert sorted(set(values)) == [1.0, 2.0] and (values == 2.0).sum() == 4
    assert db.verify()["ok"]
    db.close()


def test_split_is_stable_and_equals_a_rerun():
    db = make_db(n=200)
    ml.deploy(db, spec(Counting(), test_fraction=0.3, seed=11))
    first = ml.training_set(db, "reviews_fs")
    side = {tuple(i): "train" for i in first.ids_train} | {tuple(i): "test" for i in first.ids_test}
    assert 0.15 < len(first.y_test) / len(side) < 0.45
    for where in ("id % 7 = 0", "stars = 1", "price > 200"):
        report = db.delete("reviews", where)
        fs_report = report["features"]["reviews_fs"]
        assert fs_report["train_before"] - fs_report["train_after"] + fs_report["test_before"] \
            - fs_report["test_after"] == fs_report["rows_removed"]
        now = ml.training_set(db, "reviews_fs")
        assert all(side[tuple(i)] == "train" for i in now.ids_train)
        assert all(side[tuple(i)] == "test" for i in now.ids_test)
        assert (len(now.y_train), len(now.y_test)) == (fs_report["train_after"], fs_report["test_after"])
    assert training_sets_equal(ml.training_set(db, "reviews_fs"), rerun_of(db)) is None


def test_statistics_follow_deletions_column_set_included():
    db = make_db()
    ml.deploy(db, spec(Counting()))
    before = ml.training_set(db, "reviews_fs")
    assert "country=IT" in before.feature_names
    db.delete("customers", "country = 'IT'")          # a category disappears
    db.delete("reviews", "price > 40")                # the mean, the max and the bins move
    after = ml.training_set(db, "reviews_fs")
    assert "country=IT" not in after.feature_names
    assert len(after.feature_names) == len(before.feature_names) - 1
    price = after.feature_names.index("price_standard")
    everything = np.concatenate([after.X_train[:, price], after.X_test[:, price]])
    assert abs(everything.mean()) < 1e-9 and abs(everything.std() - 1) < 1e-9  # scaled with the new mean/std
    assert training_sets_equal(after, rerun_of(db)) is None
    db.delete("customers", "true")                    # nothing left
    empty = ml.training_set(db, "reviews_fs")
    assert empty.X_train.shape[0] == empty.X_test.shape[0] == 0
    assert not any(n.startswith("country=") for n in empty.feature_names)


def test_prep_shapes_source_table_union_and_aggregate():
    db = make_db()
    ml.deploy(db, ml.feature_spec("raw", "reviews", [ml.standard("price")], label="stars"))  # a source as prep
    data = ml.training_set(db, "raw")
    assert data.lineage == ["reviews_rid"] and len(data.y_train) + len(data.y_test) == 60
    db.deploy("CREATE VIEW both_ AS SELECT id, price FROM reviews WHERE stars = 1 "
              "UNION ALL SELECT id, price FROM reviews WHERE stars >= 4")
    ml.deploy(db, ml.feature_spec("u", "both_", [ml.passthrough("price")]))
    assert ml.training_set(db, "u").lineage == ["reviews_rid", "reviews_rid_2"]
    db.deploy("CREATE VIEW per_country AS SELECT country, AVG(age) AS a FROM prep GROUP BY country")
    with pytest.raises(IvmError, match="aggregate"):
        ml.deploy(db, ml.feature_spec("agg", "per_country", [ml.passthrough("a")]))
    db.delete("reviews", "stars = 1")
    assert len(ml.training_set(db, "u").y_train) + len(ml.training_set(db, "u").y_test) == \
        db.con.execute("SELECT COUNT(*) FROM both_").fetchall()[0][0]
    ml.drop(db, "u")
    assert "u" not in ml.sets(db) and db.verify()["ok"]


def test_audit_log_records_each_deletion_in_its_transaction(tmp_path):
    db = make_db(tmp_path / "a.duckdb")
    ml.deploy(db, spec(Counting()))
    db.delete("reviews", "body LIKE '%product 12 %'")
    db.delete("customers", "id IN (1, 2)")
    with pytest.raises(RuntimeError):
        def boom(stage):
            raise RuntimeError("crash in the middle")
        db.delete("reviews", "id = 5", _hook=boom)
    assert db.delete("reviews", "id = 6")["audit_id"] == 3  # after the rollback, the next id is still 3
    db.close()
    db = ivm.connect(tmp_path / "a.duckdb")
    assert db.delete("reviews", "id = 7")["audit_id"] == 4  # a new handle reads the last id from the log
    log = audit.entries(db.con)[:3]
    assert [e["id"] for e in audit.entries(db.con)] == [1, 2, 3, 4]
    assert [e["source"] for e in log] == ["reviews", "customers", "reviews"]  # the rolled-back one left none
    assert log[0]["predicate"] == "body LIKE ?" and log[0]["literals_redacted"] == 1
    assert log[1]["predicate"] == "id IN (?, ?)" and log[1]["rows_removed"] == 2
    fs = log[1]["features"]["reviews_fs"]
    assert fs["rows_removed"] == log[1]["views"]["prep"]["deleted"] > 0
    assert fs["train_before"] + fs["test_before"] - fs["rows_removed"] == fs["train_after"] + fs["test_after"]
    assert "product 12" not in audit.text(log) and "#2" in audit.text(log)


def test_purge_with_a_feature_set_leaves_no_deleted_value(tmp_path):
    db = make_db(tmp_path / "p.duckdb")
    ml.deploy(db, spec(Counting()))
    report = db.delete("reviews", "id = 13", purge=True)
    assert report["receipt"]["status"] == "complete"
    assert report["receipt"]["fingerprints"]["found"] == 0
    assert report["features"]["reviews_fs"]["rows_removed"] == 1
    assert len(audit.entries(db.con)) == 1 and db.verify()["ok"]
    db.close()


# -- bad input: one clear error, nothing changed --------------------------------------------------------------
def unchanged(db, action, match):
    before = snapshot(db.con)
    plans = dict(db.plans)
    with pytest.raises(IvmError, match=match) as error:
        action()
    assert "\n" not in str(error.value)
    assert snapshot(db.con) == before and db.plans == plans
    return str(error.value)


def test_bad_specs_change_nothing():
    db = make_db()
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "prep", [ml.standard("nope")])),
              "unknown column 'nope' of prep")
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "nowhere", [ml.standard("x")])), "unknown view nowhere")
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "prep", [ml.standard("country")])),
              "needs a number, but country is VARCHAR")
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "prep", [ml.passthrough("age")], label="nope + 1")),
              "bad label")
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("prep", "prep", [ml.passthrough("age")])), "already taken")
    # found by a README walkthrough: sqlglot's own class names ("missing for <class ...GT'>") reached the user
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "prep", [ml.passthrough("age")], label="age >")),
              "cannot parse the label 'age >': an operand is missing after >")
    # found by a hunt: a label that binds but fails on a row was deployed, and every export of it failed after
    unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "prep", [ml.passthrough("age")],
                                                        label="CAST(body AS INTEGER)")),
              "the label 'CAST\\(body AS INTEGER\\)' fails on the rows of prep: Conversion Error")
    for key, value in (("from", ["prep"]), ("label", ["liked"]), ("name", {"a": 1})):  # YAML lists are no names
        with pytest.raises(IvmError, match=f"{key} in the feature spec must be"):
            ml.parse({"name": "f", "from": "prep", "features": ["age"], key: value})
    with pytest.raises(IvmError, match="twice"):
        ml.feature_spec("f", "prep", [ml.passthrough("age"), ml.passthrough("age")])
    with pytest.raises(IvmError, match="either edges"):
        ml.parse({"name": "f", "from": "prep", "features": [{"bucket": "age"}]})
    with pytest.raises(IvmError, match="unknown option 'colour'"):
        ml.parse({"name": "f", "from": "prep", "features": [{"standard": "age", "colour": "red"}]})
    with pytest.raises(IvmError, match="test_fraction"):
        ml.parse({"name": "f", "from": "prep", "features": ["age"], "split": {"test_fraction": 2}})


def test_statistics_that_overflow_are_a_clear_error():
    """BUG (found by a hunt): standard() over epoch nanoseconds overflowed the exact HUGEINT sum of squares;
    the error was masked as 'Current transaction is aborted', or deploy passed and every export failed."""
    for rows, first in ((100, 1_700_000_000_000_000_000), (20, 1_000_000_000_000_000_000)):
        db = ivm.connect(":memory:")
        db.load("ev", duckdb.sql(f"SELECT i AS id, ({first} + i)::BIGINT AS v, i % 2 = 0 AS lab "
                                 f"FROM range({rows}) r(i)").arrow())
        db.deploy("CREATE VIEW prep AS SELECT * FROM ev")
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec("f", "prep", [ml.standard("v")], label="lab")),
                  "overflow .* cast the column to DOUBLE")


def test_bad_udfs_change_nothing():
    db = make_db()

    def raises(values):
        raise ValueError("model not loaded")

    def short(values):
        return np.zeros(len(values) - 1)

    def wide(values):
        return np.zeros((len(values), 4))

    def words(values):
        return np.array(["a"] * len(values))

    def make(function, dims=0):
        return ml.feature_spec("f", "prep", [ml.passthrough("age"), ml.udf(function, "body", dims=dims)])

    message = unchanged(db, lambda: ml.deploy(db, make(raises)), "raised ValueError: model not loaded")
    assert "nothing was changed" in message
    unchanged(db, lambda: ml.deploy(db, make(short)), r"returned shape \(\d+,\) for a batch of \d+ rows")
    unchanged(db, lambda: ml.deploy(db, make(wide, dims=3)), r"shape \(\d+, 4\).*expected \(\d+, 3\)")
    unchanged(db, lambda: ml.deploy(db, make(wide)), r"expected \(\d+,\)")
    unchanged(db, lambda: ml.deploy(db, make(words)), "not an array of numbers")
    unchanged(db, lambda: ml.deploy(db, make("no_such_module_xyz:f")), "cannot import no_such_module_xyz")
    # a UDF failing on new rows during a recompute rolls the recompute back
    ml.deploy(db, make(lambda v: np.ones(len(v))))
    db.con.execute("""INSERT INTO "_ivm"."reviews" VALUES (999, 999, 1, 5, 'new', 1.0)""")
    ml.features.register_functions(db, "f", {"<lambda>": raises})
    unchanged(db, db.recompute, "raised ValueError")


def test_export_files_and_bad_paths(tmp_path):
    db = make_db()
    ml.deploy(db, spec(Counting(), vector=Counting(dims=3)))
    data = ml.training_set(db, "reviews_fs")
    report = ml.export(db, "reviews_fs", "npy", tmp_path / "npy")
    assert report["rows"] == len(data.y_train) + len(data.y_test)
    assert np.array_equal(np.load(tmp_path / "npy" / "X_train.npy"), data.X_train, equal_nan=True)
    assert np.array_equal(np.load(tmp_path / "npy" / "ids_test.npy"), data.ids_test)
    import pyarrow.feather as feather
    import pyarrow.parquet as pq
    ml.export(db, "reviews_fs", "parquet", tmp_path / "x.parquet")
    ml.export(db, "reviews_fs", "arrow", tmp_path / "x.arrow")
    for table in (pq.read_table(tmp_path / "x.parquet"), feather.read_table(tmp_path / "x.arrow")):
        assert table.column_names[:4] == ["reviews_rid", "customers_rid", "split", "label"]
        assert table.column_names[4:] == data.feature_names
        train = table.filter(pa.compute.equal(table.column("split"), "train"))
        assert np.allclose(train.column("embedding[2]").to_numpy(), data.X_train[:, data.feature_names.index(
            "embedding[2]")])
    for bad, match in ((tmp_path / "missing" / "x.parquet", "does not exist"), (tmp_path / "npy", "is a folder"),
                       (Path("/proc/no/x.parquet"), "cannot export")):
        with pytest.raises(IvmError, match=match):
            ml.export(db, "reviews_fs", "parquet", bad)
    with pytest.raises(IvmError, match="cannot export"):
        ml.export(db, "reviews_fs", "npy", Path("/proc/x"))
    with pytest.raises(IvmError, match="unknown format"):
        ml.export(db, "reviews_fs", "csv", tmp_path / "x.csv")
    assert not list(tmp_path.glob(".*tmp")) and not (tmp_path / "missing").exists()


# -- regressions found by a hunt: odd values, odd names --------------------------------------------------------
def small_db(select: str, view: str = "CREATE VIEW p AS SELECT * FROM t") -> ivm.Database:
    """A database with source ``t`` holding the rows of ``select`` and the prep view ``p``."""
    db = ivm.connect(":memory:")
    db.load("t", duckdb.sql(select).to_arrow_table())
    db.deploy(view)
    return db


def incremental_and_rerun(db, features, predicate) -> tuple[ml.TrainingSet, ml.TrainingSet]:
    """Feature set ``inc`` deployed before deleting ``predicate`` from ``t``, ``rerun`` deployed after."""
    ml.deploy(db, ml.feature_spec("inc", "p", features))
    db.delete("t", predicate)
    ml.deploy(db, ml.feature_spec("rerun", "p", features))
    return ml.training_set(db, "inc"), ml.training_set(db, "rerun")


def test_nan_maximum_is_recomputed_when_its_row_leaves():
    """BUG (found by a hunt): a DOUBLE column holding NaN (DuckDB's maximum): deleting the NaN row kept the
    maximum at NaN (Python's NaN >= NaN is false, so the held maximum did not look held) and every min-max
    and bins value of X became NaN; a full rerun gives numbers."""
    db = small_db("SELECT * FROM (VALUES (1, 1.0::DOUBLE), (2, 'nan'::DOUBLE), (3, 5.0), (4, 3.0)) v(id, x)")
    inc, rerun = incremental_and_rerun(db, [ml.minmax("x"), ml.bucket("x", bins=2, name="xb")], "isnan(x)")
    assert training_sets_equal(inc, rerun) is None
    assert not np.isnan(np.vstack([inc.X_train, inc.X_test])).any()


def test_nan_category_goes_when_all_its_rows_leave_at_once():
    """BUG (found by a hunt): one-hot over DOUBLE with several NaN rows: deleting them all in one deletion left
    category x=nan with a count of 2 (Python's Counter kept each NaN as its own key), so its X column stayed."""
    db = small_db("SELECT * FROM (VALUES (1, 'nan'::DOUBLE), (2, 'nan'::DOUBLE), (3, 'nan'::DOUBLE), (4, 1.0), "
                  "(5, 2.0)) v(id, x)")
    inc, rerun = incremental_and_rerun(db, [ml.onehot("x")], "isnan(x)")
    assert inc.feature_names == rerun.feature_names == ["x=1.0", "x=2.0"]
    assert training_sets_equal(inc, rerun) is None


def test_negative_zero_category_is_named_as_a_rerun_names_it():
    """BUG (found by a hunt): one-hot over DOUBLE with -0.0 and 0.0 (one category): after deleting the -0.0 row
    the X column was still named x=-0.0, where a rerun on the remaining rows names it x=0.0."""
    db = small_db("SELECT * FROM (VALUES (1, -0.0::DOUBLE), (2, 0.0::DOUBLE), (3, 1.0)) v(id, x)")
    inc, rerun = incremental_and_rerun(db, [ml.onehot("x")], "id = 1")
    assert inc.feature_names == rerun.feature_names == ["x=0.0", "x=1.0"]


def test_onehot_over_a_collated_column_keeps_one_row_per_example():
    """BUG (found by a hunt): one-hot over a column with a collation (c COLLATE NOACCENT): the categories keep 'e'
    and 'é' apart, but X's join to them compared with the column's collation, so each 'e' or 'é' row matched
    both and training_set held 7 rows for 4 examples."""
    db = small_db("SELECT i AS id, ['e', 'é', 'b', 'e'][i + 1] AS c FROM range(4) r(i)",
                  "CREATE VIEW p AS SELECT id, c COLLATE NOACCENT AS c FROM t")
    ml.deploy(db, ml.feature_spec("fs", "p", [ml.onehot("c")]))
    data = ml.training_set(db, "fs")
    ids = np.concatenate([data.ids_train, data.ids_test]).ravel()
    X = np.vstack([data.X_train, data.X_test])
    assert sorted(ids.tolist()) == [1, 2, 3, 4] and data.feature_names == ["c=b", "c=e", "c=é"]
    assert X.sum(axis=1).tolist() == [1.0] * 4


def test_x_column_names_never_clash_with_the_query_s_own_columns(tmp_path):
    """BUG (found by a hunt): X columns were named in the query by their own names, beside the lineage (s0..),
    __test and __label columns: a passthrough of a prep column s0 read the lineage ids, a prep column named
    __label replaced the label, a feature named __test broke the Arrow export with a raw KeyError, and
    categories differing only in case (UK, uk) or holding a NUL character made training_set raise KeyError."""
    db = small_db("SELECT i AS id, i * 10.0 AS s0, i * 1.0 AS x, i > 2 AS __label, ['UK', 'uk', 'a' || chr(0) || 'b', "
                  "'DE'][i + 1] AS country FROM range(4) r(i)")
    ml.deploy(db, ml.feature_spec("fs", "p", [ml.passthrough("s0"), ml.passthrough("x", name="__test"),
                                              ml.onehot("country")], label="x > 1"))
    data = ml.training_set(db, "fs")
    assert data.feature_names == ["s0", "__test", "country=DE", "country=UK", "country=a\x00b", "country=uk"]
    X, y = np.vstack([data.X_train, data.X_test]), np.concatenate([data.y_train, data.y_test])
    ids = np.concatenate([data.ids_train, data.ids_test]).ravel()
    assert X[:, 0].tolist() == (10.0 * X[:, 1]).tolist() and (ids - 1).tolist() == X[:, 1].tolist()
    assert y.tolist() == (X[:, 1] > 1).tolist()
    assert X[:, 2:].sum(axis=1).tolist() == [1.0] * 4 and X[:, 2:].sum(axis=0).tolist() == [1.0] * 4
    for fmt in ("npy", "arrow"):
        ml.export(db, "fs", fmt, tmp_path / f"out.{fmt}")
    import pyarrow.feather as feather
    table = feather.read_table(tmp_path / "out.arrow")
    assert table.column_names == ["t_rid", "split", "label"] + data.feature_names


def test_feature_names_that_clash_are_refused_at_deploy():
    """BUG (found by a hunt): a feature named c=a beside onehot(c) gave two X columns c=a (the one-hot column
    held the passthrough's values), and features named label, split or t_rid replaced the export file's
    label, split and lineage columns."""
    db = small_db("SELECT i AS id, i * 1.0 AS x, ['a', 'b'][i % 2 + 1] AS c FROM range(4) r(i)")
    for features, match in (([ml.passthrough("x", name="c=a"), ml.onehot("c")],
                             "'c=a', which clashes with the one-hot"),
                            ([ml.onehot("c", name="k"), ml.onehot("x", name="k=1")], "clashes with the one-hot"),
                            ([ml.passthrough("x", name="label")], "clashes with the label column"),
                            ([ml.passthrough("x", name="split")], "clashes with the split column"),
                            ([ml.passthrough("x", name="t_rid")], "clashes with a lineage column"),
                            ([ml.hashed("c", dims=2, name="h"), ml.passthrough("x", name="h[1]")],
                             "clashes with X column")):
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec("fs", "p", features)), match)


def test_onehot_of_a_list_or_struct_is_refused_at_deploy():
    """BUG (found by a hunt): one-hot over a LIST (or STRUCT) column deployed, and then every deletion of a feature
    row failed with a raw TypeError (unhashable list) and was rolled back: the source rows could not be deleted."""
    db = small_db("SELECT i AS id, [i % 3, i % 3] AS tags, {'a': i % 2} AS s FROM range(6) r(i)")
    for column in ("tags", "s"):
        with pytest.raises(IvmError, match=f"one-hot of {column}, a .*; one-hot needs plain values"):
            ml.deploy(db, ml.feature_spec("fs", "p", [ml.onehot(column)]))
    assert not ml.sets(db)
    db.delete("t", "id = 1")
    assert db.con.execute("SELECT count(*) FROM t").fetchone()[0] == 5


def test_feature_set_names_whose_tables_are_taken_are_refused():
    """BUG (found by a hunt): a feature set's tables are named after it (__ml_m, __ml_m_stats, __ml_m_cat0), so
    sets named m_stats and m, m and m_cat0, or a set named sets (ivm's own __ml_sets) failed to deploy with a
    raw DuckDB CatalogException."""
    for first, second in (("m_stats", ("m", ml.standard("x"))), ("m", ("m_cat0", ml.passthrough("x"))),
                          (None, ("sets", ml.passthrough("x")))):
        db = small_db("SELECT i AS id, i * 1.0 AS x, ['a', 'b'][i % 2 + 1] AS c FROM range(3) r(i)")
        if first:
            ml.deploy(db, ml.feature_spec(first, "p", [ml.passthrough("x"), ml.onehot("c")]))
        name, feature = second
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec(name, "p", [feature])),
                  f"feature set {name}: its table _ivm.__ml_.* is already ivm's")


def test_odd_api_input_and_odd_names_are_one_line_errors_or_work():
    """BUG (found by a hunt): a YAML feature name that is a number (name: 5) was an internal TypeError (the CLI
    said 'a bug in ivm'); ml.feature_spec with a column name as a feature, bucket edges as a NumPy array and
    ml.deploy given the spec's mapping raised AttributeError or ValueError; a UDF over a prep column whose name
    holds a double quote raised a raw ParserException."""
    db = small_db('SELECT i AS id, i * 1.0 AS x, i * 2.0 AS "a""b" FROM range(4) r(i)')
    assert ml.parse({"name": "s", "from": "p", "features": [{"passthrough": "x", "name": 5}]}).features[0].name == "5"
    with pytest.raises(IvmError, match="a name must be text"):
        ml.feature_spec("s", "p", [ml.passthrough("x", name=5)])
    with pytest.raises(IvmError, match="the label must be SQL text"):
        ml.feature_spec("s", "p", ["x"], label=["x"])
    with pytest.raises(IvmError, match="a feature must be a column name"):
        ml.feature_spec("s", "p", [{"standard": "x"}])
    unchanged(db, lambda: ml.deploy(db, "s"), "deploy needs a feature spec")
    ml.deploy(db, ml.feature_spec("a", "p", ["x", ml.bucket("x", edges=np.array([1.0, 2.0]), name="b"),
                                           ml.bucket("x", edges=np.arange(1, 3), name="c")]))
    ml.deploy(db, {"name": "b", "from": "p", "features": ["x"]})
    plus_one = lambda v: np.asarray(v.to_pylist(), dtype=float) + 1  # noqa: E731
    ml.deploy(db, ml.feature_spec("c", "p", [ml.udf(plus_one, 'a"b', name="u")]))
    assert ml.training_set(db, "a").feature_names == ["x", "b", "c"]
    data = ml.training_set(db, "c")
    assert sorted(np.concatenate([data.X_train, data.X_test]).ravel().tolist()) == [1.0, 3.0, 5.0, 7.0]
    db.delete("t", "id = 0")
    assert len(ml.training_set(db, "b").y_train) + len(ml.training_set(db, "b").y_test) == 3


def test_onehot_columns_are_exported_as_double(tmp_path):
    """BUG (found by a hunt): Parquet and Arrow exports held one-hot X columns as decimal128(2, 1) (DuckDB's type
    of CASE .. THEN 1.0 ELSE 0.0), not DOUBLE like every other X column; pandas read them as objects."""
    import pyarrow.feather as feather
    import pyarrow.parquet as pq
    db = small_db("SELECT i AS id, i * 1.0 AS x, ['a', 'b'][i % 2 + 1] AS c FROM range(4) r(i)")
    ml.deploy(db, ml.feature_spec("fs", "p", [ml.passthrough("x"), ml.onehot("c")]))
    ml.export(db, "fs", "parquet", tmp_path / "o.parquet")
    ml.export(db, "fs", "arrow", tmp_path / "o.arrow")
    for schema in (pq.read_schema(tmp_path / "o.parquet"), feather.read_table(tmp_path / "o.arrow").schema):
        assert [str(schema.field(n).type) for n in ("x", "c=a", "c=b")] == ["double"] * 3


def test_a_label_reading_ivm_s_internal_schema_is_refused():
    """BUG (found by a hunt): views and predicates that read ivm's internal schema _ivm are refused, but a label
    could: one counting audit-log entries flipped y of every retained row on the first deletion."""
    db = small_db("SELECT i AS id, i * 1.0 AS x FROM range(3) r(i)")
    for label in ("(SELECT count(*) FROM _ivm.__audit) = 0", "x > (SELECT max(x) FROM _ivm.t)"):
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label=label)),
                  "the label reads ivm's internal schema")


def test_a_failed_npy_export_leaves_the_old_folder_as_it_was(tmp_path):
    """BUG (found by a hunt): an npy export renamed its files into place one by one, so when a later one could not
    be written (ids_test.npy in the way as a folder) the folder held the new arrays beside the old columns.json."""
    db = small_db("SELECT i AS id, i * 1.0 AS x, ['a', 'b'][i % 2 + 1] AS c FROM range(20) r(i)")
    ml.deploy(db, ml.feature_spec("fs", "p", [ml.passthrough("x"), ml.onehot("c")]))
    out = tmp_path / "export"
    ml.export(db, "fs", "npy", out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    db.delete("t", "c = 'b'")
    (out / "ids_test.npy").unlink()
    (out / "ids_test.npy").mkdir()
    with pytest.raises(IvmError, match="cannot export to .*ids_test.npy: it is a folder"):
        ml.export(db, "fs", "npy", out)
    after = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    assert after == {name: data for name, data in before.items() if name != "ids_test.npy"}
    assert sorted(f.name for f in out.iterdir()) == sorted(before)


def test_a_prep_view_that_is_not_select_project_join_is_refused_naming_its_kind():
    """Review of a hunt's note: a LEFT JOIN prep view was refused as "maintained by recompute", which it is
    not (it is a per-row stage); the message names what the stage is."""
    db = ivm.connect(":memory:")
    db.load("a", duckdb.sql("SELECT range AS id, range AS k FROM range(3)").arrow())
    db.load("b", duckdb.sql("SELECT range AS id FROM range(2)").arrow())
    db.deploy("CREATE VIEW p AS SELECT a.id, a.k FROM a LEFT JOIN b ON a.k = b.id; "
              "CREATE VIEW w AS SELECT id, k, rank() OVER (PARTITION BY k ORDER BY id) AS r FROM a")
    for view, kind in (("p", "a per-row stage"), ("w", "a window stage")):
        with pytest.raises(ivm.IvmError, match=kind):
            ml.deploy(db, ml.feature_spec("s", view, [ml.passthrough("k")]))


def test_an_export_never_replaces_a_device_or_pipe(tmp_path):
    """BUG (found by a hunt): the export writes beside its target and renames into place, so ``--out /dev/full``
    (run as root) replaced the device with a Parquet file and exited 0. A target that exists and is not a
    regular file is refused."""
    import os
    import stat
    db = ivm.connect(":memory:")
    db.load("t", duckdb.sql("SELECT range AS id, range * 1.0 AS x FROM range(5)").arrow())
    db.deploy("CREATE VIEW p AS SELECT id, x FROM t")
    ml.deploy(db, ml.feature_spec("s", "p", [ml.passthrough("x")]))
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for fmt in ("parquet", "arrow"):
        with pytest.raises(IvmError, match="not a regular file"):
            ml.export(db, "s", fmt, pipe)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


# -- regressions found by a second hunt ------------------------------------------------------------------------
def test_a_label_reading_ivm_s_own_columns_or_the_whole_row_is_refused():
    """BUG (found by a hunt): a label saw the prep view's stored table, so __ivm_rid, a lineage column or the
    whole row by the table's name (a struct holding them) deployed; a recompute renumbers those ids, and y of
    the retained rows then differed from a full rerun."""
    db = small_db("SELECT i AS id, i * 1.0 AS x FROM range(4) r(i)")
    for label, match in (("__ivm_rid", "names __ivm_rid, one of ivm's own columns"),
                         ("__ivm_l0 % 3 = 0", "names __ivm_l0"), ("p", "reads the whole row of p")):
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label=label)), match)
    ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label="p.x > 1"))  # a column qualified by the view's name


def test_a_view_a_label_reads_is_neither_dropped_nor_replaced_while_the_set_stands(tmp_path):
    """BUG (found by a hunt): ``drop`` refused views a feature set's prep view is, but not a view its label reads
    (x > (SELECT max(thr) FROM th)): dropped, every later export of the set failed."""
    db = small_db("SELECT i AS id, i * 1.0 AS x FROM range(4) r(i)",
                  "CREATE VIEW p AS SELECT * FROM t; CREATE VIEW th AS SELECT x AS thr FROM t WHERE x > 1")
    ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label="x > (SELECT max(thr) FROM th)"))
    unchanged(db, lambda: db.drop("th"), "feature set fs reads, in its label, view th")
    unchanged(db, lambda: db.deploy("CREATE OR REPLACE VIEW th AS SELECT 1.0 AS thr FROM t"), "feature set fs")
    db.delete("t", "id = 3")  # the threshold falls to 2.0: y follows, as in a rerun
    assert sorted(ml.training_set(db, "fs").y_train.tolist() + ml.training_set(db, "fs").y_test.tolist()) == \
        [False, False, False]
    ml.drop(db, "fs")
    db.drop("th")


def test_buckets_of_nan_are_nan_not_the_top_bucket():
    """BUG (found by a hunt): DuckDB orders NaN above every number, so edges gave a NaN x len(edges) and, with
    NaN (or an infinite value) among the values, bins put every row in the top bin; the README formulas give
    NaN, as minmax does."""
    db = small_db("SELECT * FROM (VALUES (1, 1.0::DOUBLE), (2, 'nan'::DOUBLE), (3, 5.0), (4, 3.0)) v(id, x)")
    ml.deploy(db, ml.feature_spec("fs", "p", [ml.bucket("x", edges=[2, 4], name="e"),
                                              ml.bucket("x", bins=2, name="b")], test_fraction=0))
    got = ml.training_set(db, "fs").X_train
    assert got[:, 0][~np.isnan(got[:, 0])].tolist() == [0.0, 2.0, 1.0] and np.isnan(got[1, 0])
    assert np.isnan(got[:, 1]).all()
    db.delete("t", "isnan(x)")
    assert ml.training_set(db, "fs").X_train[:, 1].tolist() == [0.0, 1.0, 1.0]
    db = small_db("SELECT * FROM (VALUES (1, 1.0::DOUBLE), (2, 'inf'::DOUBLE), (3, 5.0)) v(id, x)")
    ml.deploy(db, ml.feature_spec("fs", "p", [ml.bucket("x", bins=2, name="b")], test_fraction=0))
    got = ml.training_set(db, "fs").X_train.ravel()  # (x - min) / (inf - min): 0, or NaN for x = inf; never 1
    assert got[[0, 2]].tolist() == [0.0, 0.0] and np.isnan(got[1])


def test_labels_no_export_can_write_are_refused_at_deploy():
    """BUG (found by a hunt): an INTERVAL or UNION label deployed and then a Parquet export ended in an internal
    ArrowNotImplementedError; TIME WITH TIME ZONE, UHUGEINT and BIGNUM labels failed every export."""
    db = small_db("SELECT i AS id, i * 1.0 AS x FROM range(3) r(i)")
    for label in ("INTERVAL 1 DAY * id", "union_value(a := id)", "'12:00:00+01'::TIMETZ", "id::UHUGEINT",
                  "id::BIGNUM"):
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label=label)),
                  "cannot be written by every export format")
    ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label="[x, 1]"))  # a list label exports everywhere


def test_compare_of_list_and_struct_labels(tmp_path):
    """BUG (found by a hunt): compare checked labels with np.array_equal: a LIST label (NumPy arrays as elements)
    was an internal ValueError, a STRUCT label holding NaN ({'a': nan} != {'a': nan}) was reported different."""
    from ivm import compare_run
    for label in ("[x, 1]", "{'a': x}"):
        path = tmp_path / f"{len(label)}.duckdb"
        with ivm.connect(str(path)) as db:
            db.load("t", duckdb.sql("SELECT * FROM (VALUES (1, 1.0::DOUBLE), (2, 'nan'::DOUBLE), (3, 5.0)) "
                                    "v(id, x)").to_arrow_table())
            db.deploy("CREATE VIEW p AS SELECT * FROM t")
            ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label=label, test_fraction=0))
        report = compare_run.run(path, "t", "id = 1")
        assert report["equal"], report["artifacts"]["fs"]


def test_more_odd_api_input_is_one_line_errors_and_numpy_numbers_work(tmp_path):
    """BUG (found by a hunt): names that were not text, features=None, udfs given as a list, an export path of
    None and a spec file path of None raised AttributeError/TypeError; edges: 5 in a spec file was an internal
    TypeError; NumPy integers as seed, bins and dims were refused as 'not an integer'."""
    db = small_db("SELECT i AS id, i * 1.0 AS x, ['a', 'b'][i % 2 + 1] AS c FROM range(4) r(i)")
    ml.deploy(db, ml.feature_spec("fs", "p", ["x"]))
    for action, match in ((lambda: ml.get(db, 5), "named by text"), (lambda: ml.drop(db, None), "named by text"),
                          (lambda: ml.training_set(db, None), "named by text"),
                          (lambda: ml.feature_spec(5, "p", ["x"]), "feature set name 5"),
                          (lambda: ml.feature_spec("a", None, ["x"]), "'from' must name a view"),
                          (lambda: ml.feature_spec("a", "p", None), "features must be a list"),
                          (lambda: ml.deploy(db, ml.feature_spec("a", "p", [ml.udf("m:f", "x")]), udfs=[len]),
                           "udfs must map"),
                          (lambda: ml.export(db, "fs", "npy", None), "export needs the path"),
                          (lambda: ml.load_spec(None), "needs the path of a YAML"),
                          (lambda: ml.parse({"name": "m", "from": "p", "features": [{"bucket": "x", "edges": 5}]}),
                           "edges must be a list of numbers")):
        unchanged(db, action, match)
    spec = ml.feature_spec("n", "p", [ml.bucket("x", bins=np.int64(2)), ml.hashed("c", dims=np.int64(3))],
                           seed=np.int64(3), test_fraction=np.float32(0.5))
    assert (spec.seed, spec.features[0].bins, spec.features[1].dims) == (3, 2, 3) and type(spec.seed) is int
    ml.deploy(db, spec)
    assert ml.training_set(db, "n").feature_names[0] == "x_bucket"


def test_udf_seconds_count_the_functions_only():
    """BUG (found by a hunt): a recompute with no new row reported ~0.4 s of UDF time: the timer covered building
    an empty Arrow column, whose first call imports pandas."""
    import subprocess
    code = ("import duckdb, numpy as np, ivm; from ivm import ml\n"
            "db = ivm.connect(':memory:'); db.load('t', duckdb.sql('SELECT i AS id, i * 1.0 AS x FROM range(3) r(i)')"
            ".to_arrow_table())\n"
            "db.deploy('CREATE VIEW p AS SELECT * FROM t')\n"
            "ml.deploy(db, ml.feature_spec('fs', 'p', [ml.udf(lambda v: np.ones(len(v)), 'x', name='g')]))\n"
            "print(db.recompute()['features']['fs']['udf_seconds'])")
    seconds = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                    .stdout.split()[-1])
    assert seconds == 0.0


def test_standard_of_a_decimal_with_many_places_works():
    """BUG (found by a hunt): exact statistics scale decimals by 10^scale before squaring, so any DECIMAL(38,20)
    column (1.12 scales to 1.12e20) was refused as holding values too large; such columns (Spark writes
    DECIMAL(38,18)) now get floating-point statistics."""
    db = small_db("SELECT id, x::DECIMAL(38,20) AS x FROM (VALUES (1, '1.12'), (2, '2.5'), (3, '-3'), (4, '7')) "
                  "v(id, x)")
    inc, rerun = incremental_and_rerun(db, [ml.standard("x")], "id = 4")
    assert training_sets_equal(inc, rerun) is None
    values = np.array([1.12, 2.5, -3.0])
    assert np.allclose(np.sort(np.concatenate([inc.X_train, inc.X_test]).ravel()),
                       np.sort((values - values.mean()) / values.std()))


# -- regressions found by a third hunt ---------------------------------------------------------------------------
def test_a_label_must_be_one_value_of_one_row():
    """BUG (found by a hunt): a star label gave y = ivm's internal row ids (compare then failed), UNNEST doubled
    every example in the export, an aggregate deployed and then failed every export (and `ivm compare` of the
    database), and a window over no order gave y by DuckDB's read order. All are refused at deploy."""
    db = small_db("SELECT i AS id, i * 1.0 AS x FROM range(6) r(i)")
    for label, match in (("*", "reads every column"), ("p.*", "reads every column"),
                         ("COLUMNS(*)", "reads every column"), ("unnest([x, x])", "several values"),
                         ("sum(x)", "aggregate"),
                         ("row_number() OVER ()", "window function"), ("x > avg(x) OVER ()", "window function")):
        unchanged(db, lambda: ml.deploy(db, ml.feature_spec("fs", "p", ["x"], label=label)), match)
    ml.deploy(db, ml.feature_spec("ls", "p", ["x"], label="list_contains(range(1, 4), id)"))  # a list, one value
    ml.drop(db, "ls")
    ml.deploy(db, ml.feature_spec("fs", "p", ["X"], label="x > (SELECT avg(x) FROM t)"))  # one value per row
    db.delete("t", "id = 5")
    assert ml.training_set(db, "fs").feature_names == ["X"]


def test_one_hot_names_keep_nanoseconds():
    """BUG (found by a hunt): a one-hot over TIMESTAMP_NS named its X columns from Python's datetime, which has no
    nanoseconds: two categories got one name, and a Parquet export had two columns of the same name."""
    db = ivm.connect(":memory:")
    db.load("t", duckdb.sql("SELECT i AS id, CASE WHEN i % 2 = 0 THEN TIMESTAMP_NS '2024-01-01 00:00:00.000000001' "
                            "ELSE TIMESTAMP_NS '2024-01-01 00:00:00.000000002' END AS tns "
                            "FROM range(1, 21) r(i)").to_arrow_table())
    ml.deploy(db, {"name": "o", "from": "t", "label": "id", "features": [{"onehot": "tns"}]})
    assert ml.training_set(db, "o").feature_names == ["tns=2024-01-01 00:00:00.000000001",
                                                      "tns=2024-01-01 00:00:00.000000002"]
    db.delete("t", "id % 2 = 0")  # one category left: named the same way (a review found it named by Python then)
    assert ml.training_set(db, "o").feature_names == ["tns=2024-01-01 00:00:00.000000002"]


def test_a_folder_given_as_spec_and_a_scripts_udf_in_another_process_say_what_to_do(tmp_path):
    """Found by a hunt: a folder given as the spec file was reported as missing, and a UDF defined in a script
    (``__main__``) that a later process cannot find gave no hint how to supply it."""
    from ivm.ml import spec as specs
    from ivm.ml import udf_cache

    with pytest.raises(IvmError, match="is a folder, not a feature spec file"):
        specs.load(tmp_path)
    feature = specs.udf("__main__:no_such_function", "body", name="score")
    with pytest.raises(IvmError, match=r"pass it again \(udfs=\{'score': f\}\)"):
        udf_cache.find(feature, {})
