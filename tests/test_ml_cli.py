"""The ML commands as a user runs them: ``ivm features``, ``export``, ``log`` and ``compare`` in a subprocess.

Exports are read back and compared with the Python API; ``compare`` must leave the database file byte for
byte as it was; bad input exits 2 with one line on stderr and changes nothing.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import ivm
from ivm import ml

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import ivm as run_ivm, ok, snapshot, user_error  # noqa: E402

UDFS = '''
import numpy as np

def sentiment(values):
    text = np.char.lower(values.fill_null("").to_numpy(zero_copy_only=False).astype(str))
    return (np.char.count(text, "great") - np.char.count(text, "bad")).astype(float)

def embed(values):
    lengths = np.char.str_len(values.fill_null("").to_numpy(zero_copy_only=False).astype(str)).astype(float)
    return np.column_stack([lengths, lengths % 7, np.ones(len(values))])

def broken(values):
    raise RuntimeError("the model server is down")
'''

SPEC = """
name: reviews_fs
from: prep
label: "stars >= 4"
split: {test_fraction: 0.25, seed: 3}
features:
  - stars
  - {standard: price}
  - {onehot: country}
  - {bucket: age, edges: [30, 50]}
  - {hash: body, dims: 8}
  - {udf: udfs.py:sentiment, column: body}
  - {udf: udfs.py:embed, column: body, dims: 3, name: emb}
"""

VIEWS = """CREATE VIEW prep AS SELECT r.id, r.stars, r.body, r.price, c.country, c.age
FROM reviews r JOIN customers c ON r.cid = c.id;"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ml-cli")
    maker = duckdb.connect()
    maker.execute(f"COPY (SELECT i AS id, ['UK','DE','FR'][1 + i % 3] AS country, 20 + i * 7 % 45 AS age "
                  f"FROM range(1, 11) r(i)) TO '{folder / 'customers.csv'}'")
    maker.execute(f"COPY (SELECT i AS id, 1 + i % 10 AS cid, 1 + i % 5 AS stars, "
                  f"'a great thing ' || i || CASE WHEN i % 3 = 0 THEN ' bad' ELSE '' END AS body, "
                  f"(i * 0.75)::DECIMAL(8,2) AS price FROM range(80) r(i)) TO '{folder / 'reviews.csv'}'")
    (folder / "udfs.py").write_text(UDFS)
    (folder / "spec.yaml").write_text(SPEC)
    (folder / "views.sql").write_text(VIEWS)
    db = folder / "base.duckdb"
    ok(run_ivm("load", db, f"customers={folder / 'customers.csv'}", f"reviews={folder / 'reviews.csv'}"))
    ok(run_ivm("deploy", db, folder / "views.sql"))
    deployed = ok(run_ivm("features", db, folder / "spec.yaml")).stdout
    assert "deployed feature set reviews_fs on prep: 80 rows" in deployed and "UDF sentiment computed for 80" in deployed
    return folder


def copy_of(project: Path, tmp_path: Path) -> Path:
    target = tmp_path / "work.duckdb"
    target.write_bytes((project / "base.duckdb").read_bytes())
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_list_delete_log_and_exports(project, tmp_path):
    db = copy_of(project, tmp_path)
    listing = json.loads(ok(run_ivm("features", db, "--json")).stdout)
    assert listing["reviews_fs"]["train"] + listing["reviews_fs"]["test"] == 80
    assert "emb[2]" in listing["reviews_fs"]["columns"]
    out = ok(run_ivm("delete", db, "--from", "customers", "--where", "country = 'DE'")).stdout
    assert "feature set reviews_fs: -" in out
    ok(run_ivm("delete", db, "--from", "reviews", "--where", "id < 10"))
    log = json.loads(ok(run_ivm("log", db, "--json")).stdout)
    assert [e["source"] for e in log] == ["customers", "reviews"] and log[0]["predicate"] == "country = ?"
    assert log[1]["features"]["reviews_fs"]["rows_removed"] == log[1]["views"]["prep"]["deleted"]
    text = ok(run_ivm("log", db)).stdout
    assert "#1" in text and "feature set reviews_fs" in text and "'DE'" not in text
    ok(run_ivm("export", db, "--features", "reviews_fs", "--format", "npy", "--out", tmp_path / "npy"))
    ok(run_ivm("export", db, "--features", "reviews_fs", "--format", "parquet", "--out", tmp_path / "x.parquet"))
    ok(run_ivm("export", db, "--features", "reviews_fs", "--format", "arrow", "--out", tmp_path / "x.arrow"))
    with ivm.connect(db) as database:
        want = ml.training_set(database, "reviews_fs")
    assert not any(n.startswith("country=DE") for n in want.feature_names)
    assert np.array_equal(np.load(tmp_path / "npy" / "X_test.npy"), want.X_test)
    assert np.array_equal(np.load(tmp_path / "npy" / "y_train.npy"), want.y_train)
    assert json.loads((tmp_path / "npy" / "columns.json").read_text())["features"] == want.feature_names
    for table in (pq.read_table(tmp_path / "x.parquet"), feather.read_table(tmp_path / "x.arrow")):
        assert table.num_rows == len(want.y_train) + len(want.y_test)
        assert table.column_names == ["reviews_rid", "customers_rid", "split", "label", *want.feature_names]


def test_compare_equal_and_leaves_the_file_alone(project, tmp_path):
    db = copy_of(project, tmp_path)
    before = digest(db)
    report = json.loads(ok(run_ivm("compare", db, "--from", "customers", "--where", "id IN (2, 3)", "--json")).stdout)
    assert digest(db) == before and not Path(str(db) + ".wal").exists()
    assert report["equal"] is True and report["deleted_rows"] == 2
    assert report["incremental_seconds"] > 0 and report["recompute_seconds"] > 0
    assert report["speedup"] == pytest.approx(report["recompute_seconds"] / report["incremental_seconds"])
    assert set(report["artifacts"]) == {"prep", "reviews_fs"}
    fs = report["artifacts"]["reviews_fs"]
    assert fs["equal"] and fs["rows_removed"] == report["artifacts"]["prep"]["rows_removed"] == 16
    assert fs["udf_rows_recomputed"] == {"sentiment": 64, "emb": 64}  # the rerun computes every UDF value again
    text = ok(run_ivm("compare", db, "--from", "reviews", "--where", "stars = 1")).stdout
    assert "equal: yes" in text and "speedup" in text
    # a database without feature sets
    plain = tmp_path / "plain.duckdb"
    ok(run_ivm("load", plain, f"customers={project / 'customers.csv'}"))
    (tmp_path / "v.sql").write_text("CREATE VIEW uk AS SELECT id, age FROM customers WHERE country = 'UK'")
    ok(run_ivm("deploy", plain, tmp_path / "v.sql"))
    report = json.loads(ok(run_ivm("compare", plain, "--from", "customers", "--where", "age > 40", "--json")).stdout)
    assert report["equal"] and list(report["artifacts"]) == ["uk"]


def test_bad_input_is_one_line_and_changes_nothing(project, tmp_path):
    db = copy_of(project, tmp_path)
    before = snapshot(db)
    bad_spec = tmp_path / "bad.yaml"
    bad_spec.write_text(SPEC.replace("name: reviews_fs", "name: other").replace("{standard: price}", "{standard: prise}"))
    user_error(run_ivm("features", db, bad_spec), "unknown column 'prise'")
    raising = tmp_path / "raising.yaml"
    raising.write_text(SPEC.replace("name: reviews_fs", "name: other").replace(
        "udfs.py:sentiment", f"{project / 'udfs.py'}:broken").replace("udfs.py:embed", f"{project / 'udfs.py'}:embed"))
    user_error(run_ivm("features", db, raising), "the model server is down")
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    user_error(run_ivm("features", db, tmp_path / "broken.yaml"), "cannot parse")
    user_error(run_ivm("export", db, "--features", "reviews_fs", "--format", "parquet", "--out",
                       "/proc/nowhere/x.parquet"), "cannot export")
    user_error(run_ivm("export", db, "--features", "reviews_fs", "--format", "csv", "--out", tmp_path / "x"),
               "unknown format")
    user_error(run_ivm("export", db, "--features", "nope", "--format", "npy", "--out", tmp_path / "x"),
               "unknown feature set nope")
    user_error(run_ivm("compare", db, "--from", "prep", "--where", "true"), "is a view")
    assert snapshot(db) == before
    assert not (tmp_path / "x").exists()


def test_ctrl_c_in_commands_that_only_read_says_nothing_changed(project, tmp_path, monkeypatch, capsys):
    """BUG (found by a hunt): Ctrl-C during ``ivm export`` or ``ivm compare`` (which never change the database)
    printed "whether the change committed is not known: `ivm verify` and `ivm log` tell"."""
    from ivm import cli, compare_run

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    db = copy_of(project, tmp_path)
    monkeypatch.setattr(ml, "export", stop)
    monkeypatch.setattr(compare_run, "run", stop)
    for command in (["export", str(db), "--features", "reviews_fs", "--format", "npy", "--out", str(tmp_path / "n")],
                    ["compare", str(db), "--from", "reviews", "--where", "id = 1"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(command)
        assert exit_.value.code == 130
        message = capsys.readouterr().err.strip()
        assert message.startswith("interrupted: ") and message.endswith("stopped; nothing changed"), message


def test_ctrl_c_after_the_copys_deletion_committed_says_the_database_is_unchanged(project, tmp_path, monkeypatch,
                                                                                    capsys):
    """BUG (found by a hunt): Ctrl-C late in ``ivm compare`` printed "the deletion from orders had committed" (said
    of the copy the comparison deletes from), and the user took their own database for changed."""
    from ivm import cli, compare_run

    def stop(*args, **kwargs):
        raise as_interrupt(KeyboardInterrupt(), "the deletion from reviews had committed")

    from ivm.errors import as_interrupt
    db = copy_of(project, tmp_path)
    monkeypatch.setattr(compare_run, "run", stop)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["compare", str(db), "--from", "reviews", "--where", "id = 1"])
    assert exit_.value.code == 130
    message = capsys.readouterr().err.strip()
    assert message.startswith("interrupted: the comparison") and message.endswith("stopped; nothing changed"), message
    assert "had committed" not in message
