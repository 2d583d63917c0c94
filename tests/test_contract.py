"""The bad-input contract (one line, exit code 2, nothing changed) and file safety, for what a hunt of the CLI
and the Python API found (2026-11-27). Each test failed before its fix."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import ivm
from ivm import demo, ml
from ivm.errors import IvmError

CLI = [sys.executable, "-m", "ivm.cli"]
SHOP = Path(__file__).parents[1] / "examples" / "shop"


def run(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def refused(result, text: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert text in result.stderr, result.stderr


def shop(path: Path) -> ivm.Database:
    db = ivm.connect(path)
    db.load("customers", SHOP / "customers.csv")
    db.load("orders", SHOP / "orders.csv")
    return db


def test_purge_through_a_symlink_or_after_chdir_rewrites_the_real_file(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    shop(real / "shop.duckdb").close()
    link = tmp_path / "current.duckdb"
    link.symlink_to(real / "shop.duckdb")
    email = duckdb.connect(str(real / "shop.duckdb"), read_only=True).execute(
        "SELECT email FROM _ivm.customers WHERE id = 1").fetchall()[0][0]
    with ivm.connect(link) as db:
        db.delete("customers", "id = 1", purge=True)
    assert link.is_symlink() and email.encode() not in (real / "shop.duckdb").read_bytes()

    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "shop.duckdb").write_bytes(b"someone else's file")
    monkeypatch.chdir(real)
    db = ivm.connect("shop.duckdb")
    monkeypatch.chdir(other)
    db.delete("customers", "id = 2", purge=True)
    db.close()
    assert (other / "shop.duckdb").read_bytes() == b"someone else's file"


def test_export_onto_the_database_is_refused(tmp_path):
    db = shop(tmp_path / "db.duckdb")
    db.deploy("CREATE VIEW prep AS SELECT oid, amount FROM orders WHERE amount IS NOT NULL")
    ml.deploy(db, ml.feature_spec("fs", "prep", [ml.standard("amount")]))
    with pytest.raises(IvmError, match="is the database file"):
        ml.export(db, "fs", "parquet", tmp_path / "db.duckdb")
    assert db.verify()["ok"]


def test_a_folder_named_like_a_partition_adds_nothing(tmp_path):
    folder = tmp_path / "id=7"
    folder.mkdir()
    (folder / "c.csv").write_text("id,name\n1,a\n2,b\n")
    duckdb.connect().execute(f"COPY (SELECT 1 AS id, 'a' AS name) TO '{folder / 'c.parquet'}'")
    db = ivm.connect(":memory:")
    db.load("c", folder / "c.csv")
    db.load("p", folder / "c.parquet")
    assert db.con.execute("SELECT * FROM c ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    assert db.con.execute("SELECT * FROM p").fetchall() == [(1, "a")]


def test_demo_does_not_delete_folders_it_did_not_make(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.csv").write_text("x\n1\n")
    with pytest.raises(IvmError, match="not made by ivm demo"):
        demo._clear(tmp_path)
    assert (tmp_path / "data" / "mine.csv").exists()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    demo._clear(fresh)  # an empty folder becomes the demo's
    (fresh / "data").mkdir()
    demo._clear(fresh)
    assert not (fresh / "data").exists()


def test_a_bad_replay_file_leaves_the_output_folder_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "views.sql").write_text("-- mine")
    (tmp_path / "bad.jsonl").write_text("not json\n")
    example = Path(__file__).parents[1] / "examples" / "pipelines" / "loops_dict_join"
    result = run("rewrite", example / "pipeline.py", "--source", f"customers={example / 'customers.csv'}",
                 "--source", f"orders={example / 'orders.csv'}", "--result-var", "result",
                 "--replay", tmp_path / "bad.jsonl", "--out", out)
    refused(result, "not JSON")
    assert sorted(p.name for p in out.iterdir()) == ["views.sql"]


def test_a_source_a_feature_set_reads_is_not_replaced():
    db = shop(":memory:")
    ml.deploy(db, ml.feature_spec("fs", "orders", [ml.passthrough("oid")]))
    with pytest.raises(IvmError, match="read by a feature set"):
        db.load("orders", SHOP / "orders.csv", replace=True)


@pytest.mark.parametrize("where", [
    "id IN (SELECT id FROM read_single_csv_file('x.csv'))",
    "id IN (SELECT 1 FROM enable_profiling(save_location := 'p.json'))",
    "id IN (SELECT 1 FROM enable_logging(storage := 'file'))",
    "id IN (SELECT id FROM read_duckdb('other.duckdb', table_name := 't'))",
    "__ivm_rid IN (SELECT 1)",
])
def test_predicates_that_write_read_outside_or_read_ivms_columns_are_refused(where, tmp_path):
    db = shop(":memory:")
    before = db.con.execute("SELECT count(*) FROM customers").fetchall()[0][0]
    with pytest.raises(IvmError):
        db.delete("customers", where)
    assert db.con.execute("SELECT count(*) FROM customers").fetchall()[0][0] == before


@pytest.mark.parametrize("view, message", [
    ("SELECT * FROM read_single_csv_file('x.csv')", "reads outside the database"),
    ("SELECT 1 AS x FROM enable_profiling()", "changes DuckDB's state"),
    ("SELECT id FROM other.main.customers", "of database other"),
])
def test_views_that_write_or_read_elsewhere_are_refused(view, message):
    db = shop(":memory:")
    with pytest.raises(IvmError, match=message):
        db.deploy(f"CREATE VIEW v AS {view}")


def test_a_view_naming_its_database_works_in_a_copy_of_the_file(tmp_path):
    db = shop(tmp_path / "shop.duckdb")
    db.deploy("CREATE VIEW v AS SELECT c.id FROM shop.main.customers c WHERE c.country = 'UK'")
    db.close()
    result = run("compare", tmp_path / "shop.duckdb", "--from", "customers", "--where", "id < 50")
    assert result.returncode == 0, result.stderr


def test_a_failed_first_load_leaves_a_plain_duckdb_file_plain(tmp_path):
    path = tmp_path / "mine.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE sales AS SELECT 1 AS x").close()
    before = path.read_bytes()
    refused(run("load", path, f"t={tmp_path / 'missing.csv'}"), "does not exist")
    assert path.read_bytes() == before


def test_api_arguments_of_the_wrong_type_are_ivm_errors():
    with pytest.raises(IvmError, match="must be text or a path"):
        ivm.connect(None)
    db = ivm.connect(":memory:")
    with pytest.raises(IvmError, match="header must be"):
        db.load("c", SHOP / "customers.csv", header="yes; COMMIT")


def test_cli_errors_stay_on_one_line(tmp_path):
    path = tmp_path / "db.duckdb"
    assert run("load", path, f"customers={SHOP / 'customers.csv'}").returncode == 0
    refused(run("delete", path, "--where", "id = 1"), "Missing option '--from'")
    refused(run("log", path, "--limit", "99999999999999999999999"), "--limit")
    many = " OR ".join(f"id = {i}" for i in range(3000))
    refused(run("delete", path, "--from", "customers", "--where", many), "nests too deeply")
    (tmp_path / "weird.csv").write_text('"a\nb",c\n1,2\n')
    assert run("load", path, f"w={tmp_path / 'weird.csv'}").returncode == 0
    refused(run("delete", path, "--from", "w", "--where", "nope = 1"), "unknown column nope")
    views = tmp_path / "views.sql"
    views.write_bytes("\ufeffCREATE VIEW uk AS SELECT id FROM customers WHERE country = 'UK'".encode())
    assert run("deploy", path, views).returncode == 0


def test_purge_json_has_the_documented_keys(tmp_path):
    path = tmp_path / "db.duckdb"
    shop(path).close()
    assert run("delete", path, "--from", "customers", "--where", "id = 1").returncode == 0
    done = run("purge", path, "--json")
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert {"id", "status", "request", "created_at", "completed_at", "deleted", "files", "fingerprints",
            "purge"} <= set(receipt)


def test_deletion_indexes_on_any_column_names_survive_a_replace(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text('id,"user","last, first",b,c,b_c\n1,u,"l, f",1,2,3\n')
    db = ivm.connect(":memory:")
    db.load("people", csv)
    for columns in [("user",), ("last, first",), ("b_c",), ("b", "c")]:
        db.index("people", *columns)
    listed = db.deletion_indexes()
    assert sorted(listed.values()) == sorted(["people(user)", "people(last, first)", "people(b_c)", "people(b, c)"])
    db.load("people", csv, replace=True)
    assert db.deletion_indexes() == listed
    db.delete("people", "\"user\" = 'u'")


def test_a_failed_first_load_removes_only_a_file_it_created(tmp_path, monkeypatch):
    """BUG (found by a hunt): two `ivm load` runs creating the same new file at once could leave none: the
    second saw no file, failed on the first one's lock (or on its own bad input after the first finished),
    and deleted the file as its own leftover."""
    from click.testing import CliRunner

    from ivm import cli

    target, good, bad = tmp_path / "new.duckdb", tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("id,v\n1,2\n")
    bad.write_text("")  # "is empty": fails inside the load, after the open
    real_open = cli._open

    def other_load_finishes_first(db, **kwargs):  # between the check for the file and the open
        with ivm.connect(db) as other:
            other.load("theirs", str(good))
        return real_open(db, **kwargs)

    monkeypatch.setattr(cli, "_open", other_load_finishes_first)
    result = CliRunner().invoke(cli.cli, ["load", str(target), f"mine={bad}"])
    assert result.exit_code != 0
    monkeypatch.setattr(cli, "_open", real_open)
    with ivm.connect(target) as db:
        assert db.sources == ["theirs"]

    locked = tmp_path / "locked.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(locked)],
                              stdout=subprocess.PIPE, text=True)
    try:
        def other_load_holds_it(db, **kwargs):
            if holder.stdout.readline().strip() != "ready":
                raise AssertionError("the holding process did not start")
            return real_open(db, **kwargs)

        monkeypatch.setattr(cli, "_open", other_load_holds_it)
        result = CliRunner().invoke(cli.cli, ["load", str(locked), f"mine={good}"])
        assert result.exit_code != 0 and "lock" in str(result.exception).lower()
        assert locked.exists()
    finally:
        holder.kill()
        holder.wait()


def _slow_udf_project(tmp_path: Path, body: str) -> Path:
    """A database with source t and a feature set spec (spec.yaml) whose one UDF, ``score``, runs ``body``
    (indented Python) before returning zeros: a step that can be interrupted while it runs."""
    (tmp_path / "udfs.py").write_text("import os, pathlib, time\nimport numpy as np\n"
                                      f"def score(values):\n{body}\n    return np.zeros(len(values))\n")
    (tmp_path / "spec.yaml").write_text("name: s\nfrom: t\nfeatures:\n  - {udf: udfs.py:score, column: name}\n")
    db_path = tmp_path / "db.duckdb"
    with ivm.connect(db_path) as db:
        db.load("t", duckdb.sql("SELECT i AS id, 'name ' || i AS name FROM range(20) r(i)").arrow())
    return db_path


def _wait_for(found, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not found() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_sigterm_unwinds_compare_and_removes_its_copies(tmp_path):
    """BUG (found by a hunt): ``ivm compare`` killed by SIGTERM (a timeout, a service stop) left both full copies
    of the database, rows it was about to delete included, in the temporary folder for good. SIGTERM now
    unwinds like Ctrl-C: the copies are removed and the exit says it was interrupted."""
    flag = tmp_path / "slow.flag"
    db_path = _slow_udf_project(tmp_path, f"    if os.path.exists({str(flag)!r}):\n        time.sleep(30)")
    with ivm.connect(db_path) as db:
        ml.deploy(db, ml.load_spec(tmp_path / "spec.yaml"))
    flag.write_text("")  # the full rerun of compare now calls the UDF, which hangs
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    process = subprocess.Popen([*CLI, "compare", str(db_path), "--from", "t", "--where", "id = 3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(temporary)})
    _wait_for(lambda: any(temporary.glob("ivm-compare-*/rerun.duckdb")))
    time.sleep(1.5)  # inside the rerun
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("interrupted: "), err  # one line: no blank one before it
    assert list(temporary.iterdir()) == []


def test_the_copies_of_a_killed_compare_are_removed_by_the_next(tmp_path):
    """BUG (found by a hunt): ``ivm compare`` killed by SIGKILL (no cleanup runs) left both full copies of the
    database in the temporary folder for good; the next compare removes those of processes no longer running."""
    flag = tmp_path / "slow.flag"
    db_path = _slow_udf_project(tmp_path, f"    if os.path.exists({str(flag)!r}):\n        time.sleep(30)")
    with ivm.connect(db_path) as db:
        ml.deploy(db, ml.load_spec(tmp_path / "spec.yaml"))
    flag.write_text("")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = {**os.environ, "TMPDIR": str(temporary)}
    process = subprocess.Popen([*CLI, "compare", str(db_path), "--from", "t", "--where", "id = 3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    _wait_for(lambda: any(temporary.glob("ivm-compare-*/rerun.duckdb")))
    process.kill()
    process.communicate(timeout=60)
    assert len(list(temporary.iterdir())) == 1  # left behind
    flag.unlink()
    again = subprocess.run([*CLI, "compare", str(db_path), "--from", "t", "--where", "id = 4"], capture_output=True,
                           text=True, env=environment, timeout=120)
    assert again.returncode in (0, 1) and "Traceback" not in again.stderr, again.stderr
    assert list(temporary.iterdir()) == []


def test_an_interrupted_feature_deployment_says_nothing_was_deployed(tmp_path):
    """BUG (found by a hunt): Ctrl-C while ``ivm features`` computed a slow UDF printed "whether the change
    committed is not known", though the deployment had not committed: it was rolled back and says so."""
    started = tmp_path / "started"
    db_path = _slow_udf_project(tmp_path, f"    pathlib.Path({str(started)!r}).write_text('')\n    time.sleep(30)")
    process = subprocess.Popen([*CLI, "features", str(db_path), str(tmp_path / "spec.yaml")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    _wait_for(started.exists)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "rolled back, nothing deployed" in err, err
    listing = run("features", str(db_path), "--json")
    assert listing.returncode == 0 and json.loads(listing.stdout) == {}, listing.stdout + listing.stderr
