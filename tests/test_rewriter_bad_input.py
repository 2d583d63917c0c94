"""Bad input to ``ivm rewrite``: one line ``error: ...`` on stderr, exit code 2, no traceback, and nothing in the
output folder that could pass for a result. (An unreachable endpoint: tests/test_rewriter_http.py.)"""
from __future__ import annotations

import bz2
import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rewriter_support import CORRECT, ORDERS, TINY_SCRIPT, run_ivm, tiny_args, write_tiny  # noqa: E402


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    folder = tmp_path / "project"
    write_tiny(folder)
    (tmp_path / "replay.jsonl").write_text(json.dumps({"content": CORRECT}) + "\n")
    return folder


def refused(run, *mentions: str) -> str:
    assert run.code == 2, (run.code, run.out, run.err)
    assert len(run.error_lines) == 1 and run.error_lines[0].startswith("error: "), run.err
    assert "Traceback" not in run.err + run.out
    for mention in mentions:
        assert mention in run.err, run.err
    return run.err


def nothing_presented(out: Path) -> None:
    for name in ("views.sql", "udfs.py", "report.json", "unverified"):
        assert not (out / name).exists(), name


def rewrite(project: Path, *extra: str, args: list[str] | None = None):
    out = project.parent / "out"
    base = args if args is not None else tiny_args(project, out)
    return run_ivm([*base, "--replay", str(project.parent / "replay.jsonl"), *extra]), out


def test_script_that_fails_on_its_own(project):
    (project / "pipeline.py").write_text(TINY_SCRIPT + "ratio = 1 / 0\n")
    run, out = rewrite(project)
    refused(run, "the script fails on its own, before any rewriting: ZeroDivisionError: division by zero (line 11)")
    nothing_presented(out)


def test_script_that_hangs(project):
    (project / "pipeline.py").write_text(TINY_SCRIPT + "while True:\n    pass\n")
    run, out = rewrite(project, "--script-timeout", "1")
    refused(run, "did not finish within 1 s")
    nothing_presented(out)


def test_source_path_that_does_not_exist(project):
    args = tiny_args(project, project.parent / "out")
    args[args.index(f"orders={project / 'orders.csv'}")] = f"orders={project / 'missing.csv'}"
    run, out = rewrite(project, args=args)
    refused(run, f"source file {project / 'missing.csv'} does not exist")
    assert not out.exists()


def test_a_csv_duckdb_and_python_read_differently(project):
    """BUG (found by a hunt): one line with an unquoted comma made DuckDB sniff another delimiter and read the
    file as one column; the only message was a column that "could not be resolved" in the model's views."""
    for text in ("order_id,customer_id,amount\n10,1,5\n11,2,7,5\n",  # DuckDB: 4 columns, 1 row
                 "order_id,customer_id,amount\n10,1,5;x,y\n11,2,7\n12,9,30\n13,1,12\n14,3,4.99\n"):
        (project / "orders.csv").write_text(text)
        run, out = rewrite(project)
        refused(run, "read", "differently", "unquoted separator")
        nothing_presented(out)


def test_result_variable_that_is_not_there(project):
    args = tiny_args(project, project.parent / "out")
    args[args.index("result")] = "summary"
    run, out = rewrite(project, args=args)
    refused(run, "the script defines no variable 'summary' at the end; its variables: names, result, row")
    nothing_presented(out)


@pytest.mark.parametrize("line, mention", [
    ('result = open("orders.csv").close()', "returns None, not the data it writes"),
    ("result = object()", "no table, list, dict or single value"),
], ids=["none", "object"])
def test_result_variable_that_holds_no_table(project, line, mention):
    """BUG (found by a hunt): a result variable holding None (``result = df.to_csv(...)``) or another object was
    read as the one-row table [None] and ``SELECT NULL`` was verified as its rewrite."""
    (project / "pipeline.py").write_text(TINY_SCRIPT + line + "\n")
    run, out = rewrite(project)
    refused(run, "the result variable result is not a table", mention, "--result-file PATH")
    nothing_presented(out)


def test_script_that_exits_with_0_at_the_end_keeps_its_result(project):
    """BUG (found by a hunt): sys.exit(0) at the end of a script that defines its result was reported as "the
    script defines no variable 'result'; its variables: none"."""
    (project / "pipeline.py").write_text(TINY_SCRIPT + "import sys\nsys.exit(0)\n")
    run, out = rewrite(project)
    assert run.code == 0, run.out + run.err
    assert (out / "views.sql").is_file()


@pytest.mark.parametrize("opened, mention", [
    ("config.json", "--source takes delimited text files (CSV, TSV) only, so put what the script reads from "
                    "config.json into the script itself"),
    ("payments.csv", "pass every data file it reads with --source"),
], ids=["json", "csv"])
def test_a_file_the_script_reads_that_is_not_there(project, opened, mention):
    """BUG (found by a hunt): a script reading config.json was told to pass it with --source, which refuses
    anything but delimited text."""
    (project / opened).write_text("{}")
    (project / "pipeline.py").write_text(f"open({opened!r}).read()\n" + TINY_SCRIPT)
    run, out = rewrite(project)
    refused(run, "FileNotFoundError", mention)
    nothing_presented(out)


def test_result_file_that_is_never_written(project):
    args = tiny_args(project, project.parent / "out")
    args[args.index("--result-var"):args.index("--result-var") + 2] = ["--result-file", "report.csv"]
    run, out = rewrite(project, args=args)
    refused(run, "the script did not write the result file report.csv")
    nothing_presented(out)


@pytest.mark.parametrize("change, mention", [
    (lambda a: a + ["--result-file", "x.csv"], "exactly one of them"),
    (lambda a: [x for i, x in enumerate(a) if x != "--result-var" and a[i - 1] != "--result-var"], "exactly one"),
    (lambda a: a + ["--columns", "a,b"], "--columns names 2 columns but the result has 3"),
    (lambda a: [x.replace("orders=", "orders") for x in a], "--source expects NAME=PATH"),
    (lambda a: [x.replace("orders=", "customers=") for x in a], "--source customers is given twice"),
    (lambda a: [x.replace("pipeline.py", "nowhere.py") for x in a], "nowhere.py does not exist"),
], ids=["both-results", "no-result", "columns", "source-spec", "duplicate-source", "no-script"])
def test_bad_options(project, change, mention):
    run, out = rewrite(project, args=change(tiny_args(project, project.parent / "out")))
    refused(run, mention)
    nothing_presented(out)


def test_output_folder_that_is_a_file(project):
    (project.parent / "out").write_text("not a folder")
    run, _ = rewrite(project)
    refused(run, "as the output folder")


def test_script_that_is_not_python(project):
    (project / "pipeline.py").write_text("for row in rows\n    print(row)\n")
    run, _ = rewrite(project)
    refused(run, "is not valid Python: expected ':' (line 1)")


def test_notebook_that_is_not_json(project):
    (project / "pipeline.ipynb").write_text("{not json")
    args = [a.replace("pipeline.py", "pipeline.ipynb") for a in tiny_args(project, project.parent / "out")]
    run, _ = rewrite(project, args=args)
    refused(run, "is not valid .ipynb JSON")


def test_script_opening_a_source_by_absolute_path(project):
    path = project / "orders.csv"
    (project / "pipeline.py").write_text(TINY_SCRIPT.replace('open("orders.csv")', f'open("{path.resolve()}")'))
    outside = project.parent / "elsewhere"
    outside.mkdir()
    (outside / "orders.csv").write_text(path.read_text())
    args = tiny_args(project, project.parent / "out")
    args[args.index(f"orders={path}")] = f"orders={path.resolve()}"
    (project / "pipeline.py").rename(outside / "pipeline.py")
    args[1] = str(outside / "pipeline.py")
    run, _ = rewrite(project, args=args)
    refused(run, "by its absolute path; make the path relative")


@pytest.mark.parametrize("content, mention", [
    ("", "holds no responses"),
    ("{broken\n", "line 1 is not JSON"),
    ('{"label": "x"}\n', 'line 1 needs "content"'),
], ids=["empty", "not-json", "no-content"])
def test_bad_replay_file(project, content, mention):
    (project.parent / "replay.jsonl").write_text(content)
    run, out = rewrite(project)
    refused(run, mention)
    nothing_presented(out)


def test_replay_file_that_does_not_exist(project):
    run = run_ivm([*tiny_args(project, project.parent / "out"), "--replay", str(project / "nope.jsonl")])
    refused(run, "nope.jsonl does not exist")


def test_replay_and_record_together(project):
    run, _ = rewrite(project, "--record", str(project / "rec.jsonl"))
    refused(run, "--replay and --record exclude each other")


JSON_LINES = b"".join(b'{"order_id": %d, "customer_id": %d, "amount": %d}\n' % (i, i % 3, i) for i in range(10, 14))


@pytest.mark.parametrize("name, content, mention", [
    ("orders.jsonl", JSON_LINES, "only delimited text files (CSV, TSV)"),
    ("orders.ndjson", JSON_LINES, "only delimited text files (CSV, TSV)"),
    ("orders.json.gz", gzip.compress(b'[{"order_id": 10}]'), "only delimited text files (CSV, TSV)"),
    ("orders.csv.bz2", bz2.compress(ORDERS.encode()), "only uncompressed or gzip-compressed (.gz)"),
], ids=["jsonl", "ndjson", "json-gz", "bz2"])
def test_a_source_that_is_not_delimited_text_is_refused_by_its_name(project, name, content, mention):
    """BUG (found by a hunt): a JSON-lines file was not refused like .json, and got the misleading "read
    differently ... an unquoted separator inside a value" message from the csv check."""
    (project / name).write_bytes(content)
    args = tiny_args(project, project.parent / "out")
    args[args.index(f"orders={project / 'orders.csv'}")] = f"orders={project / name}"
    run, out = rewrite(project, args=args)
    assert "unquoted separator" not in refused(run, f"source {project / name}: ", mention)
    nothing_presented(out)

def test_a_title_line_above_the_header_is_named_as_the_likely_cause(project):
    """Found by a hunt: an export with a title line above the header (the script reads it with skiprows=1) was
    blamed on an unquoted separator inside a value."""
    (project / "orders.csv").write_text("Export from the shop, 2024-05-01\n" + ORDERS)
    run, out = rewrite(project)
    refused(run, "read", "differently", "title or comment line above the header")
    nothing_presented(out)


def test_a_source_that_is_not_utf8_says_so(project):
    """Found by a hunt: a Latin-1 export gave only DuckDB's "CSV Error on Line: 2"."""
    (project / "customers.csv").write_bytes("id,name\n1,K\xf6ln\n2,Bob\n3,Cem\n".encode("latin-1"))
    run, out = rewrite(project)
    refused(run, "not UTF-8", "iconv")
    nothing_presented(out)


def test_result_file_written_without_a_header_needs_columns(project):
    """Found by a hunt: a result file written with to_csv(header=False) and no --columns silently took its first
    row for the header (a row lost, columns named '10' and '13.5'); now refused with a hint to pass --columns."""
    (project / "pipeline.py").write_text(TINY_SCRIPT + "import csv as _csv\n"
                                         "with open('totals.csv', 'w', newline='') as f:\n"
                                         "    _csv.writer(f).writerows((r[0], r[2]) for r in result)\n")
    args = tiny_args(project, project.parent / "out")
    args[args.index("--result-var"):args.index("--result-var") + 2] = ["--result-file", "totals.csv"]
    run, out = rewrite(project, args=args)
    refused(run, "looks like data, not a header", "--columns")
    nothing_presented(out)
