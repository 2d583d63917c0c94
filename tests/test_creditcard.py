"""The credit-card example (examples/creditcard/) and ``ivm demo``: the generator's card numbers and decoys,
the SQL card finder, the bundled reference rewrite (verified, and a wrong one rejected), ``--source-columns``,
and the demo end to end at a small size through the command line, checking its JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from ivm import demo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "creditcard"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("creditcard")
    made = demo.generator().generate(folder, customers=300, seed=3, card_fraction=0.01, decoy_fraction=0.01)
    return {"folder": folder, **made}


def test_generator_is_seeded_and_card_numbers_pass_luhn(small, tmp_path):
    demo.generator().generate(tmp_path, customers=300, seed=3, card_fraction=0.01, decoy_fraction=0.01)
    for name in ("customers.csv", "mails.csv"):
        assert (small["folder"] / name).read_bytes() == (tmp_path / name).read_bytes()
    lines = (small["folder"] / "mails.csv").read_text().splitlines()
    assert len(lines) == 3000 and all(line.count(",") == 4 for line in lines)  # no quoting, no commas in fields
    emails = [line.split(",")[1] for line in lines]
    assert len(set(emails)) == 300 and all(emails.count(e) == 10 for e in set(emails[:20]))
    con = duckdb.connect()
    found = demo.find_card_mails(_load(con, small["folder"]))
    assert len(found["mail_ids"]) == small["card_mails"] > 0
    assert found["decoys"] == small["decoy_mails"] > 0  # 16 digits, wrong check digit: not a card


def _load(con, folder: Path):
    for name, cols in demo.COLUMNS.items():
        names = ", ".join(f"'{c}'" for c in cols)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{folder / name}.csv', header = false, "
                    f"names = [{names}])")
    return con


@pytest.mark.parametrize("text, cards", [
    ("pay with 4539 1488 0343 6467 please", ["4539148803436467"]),
    ("4539-1488-0343-6467", ["4539148803436467"]),
    ("reference 4539 1488 0343 6468", []),         # fails the Luhn check
    ("call 0044 20 7946 0958", []),                 # a phone number
    ("two: 4539148803436467 and 5555555555554444", ["4539148803436467", "5555555555554444"]),
    (None, []),
])
def test_card_finder(text, cards):
    con = duckdb.connect()
    for macro in demo.CARD_MACROS:
        con.execute(macro)
    assert con.execute("SELECT ivm_demo_cards(?)", [text]).fetchone()[0] == cards


def test_luhn_digit_matches_the_sql_check():
    numbers = demo.generator().card_numbers(200, np.random.default_rng(1))
    wrong = demo.generator().card_numbers(200, np.random.default_rng(2), valid=False)
    con = duckdb.connect()
    for macro in demo.CARD_MACROS:
        con.execute(macro)
    digits = [n.replace(" ", "").replace("-", "") for n in numbers + wrong]
    checked = [row[0] for row in con.execute("SELECT ivm_demo_luhn(d) FROM unnest(?) t(d)", [digits]).fetchall()]
    assert checked == [True] * 200 + [False] * 200


def _rewrite(folder: Path, replay: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    script = folder / "pipeline.py"
    script.write_text((EXAMPLE / "pipeline.py").read_text())
    args = [sys.executable, "-m", "ivm.cli", "rewrite", str(script),
            "--source", f"customers={folder / 'customers.csv'}", "--source", f"mails={folder / 'mails.csv'}",
            *extra, "--result-var", "rows", "--replay", str(replay), "--out", str(out)]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_reference_rewrite_verifies_and_matches_the_bundled_files(small, tmp_path):
    columns = [a for n, c in demo.COLUMNS.items() for a in ("--source-columns", f"{n}={','.join(c)}")]
    done = _rewrite(small["folder"], EXAMPLE / "reference.jsonl", tmp_path / "out", *columns)
    assert done.returncode == 0, done.stderr
    assert "verified in 1 round(s)" in done.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {c["dataset"] for c in report["checks"]} >= {"duplicates", "orphans:customers", "case", "empty_text"}
    assert all(s.startswith("incremental (lineage delete)") for s in report["ivm"].values())
    label = json.loads((EXAMPLE / "reference.jsonl").read_text().splitlines()[0])["label"]
    assert label == "reference rewrite (hand-written, not model output)"
    assert (tmp_path / "out" / "views.sql").read_text() == (EXAMPLE / "rewrite" / "views.sql").read_text()
    assert (tmp_path / "out" / "udfs.py").read_text() == (EXAMPLE / "rewrite" / "udfs.py").read_text()


def test_wrong_rewrite_is_rejected(small, tmp_path):
    """A plausible slip (the date filter without the upper bound) shows on the data and is not presented."""
    record = json.loads((EXAMPLE / "reference.jsonl").read_text())
    record["answer"]["views"] = [v.replace("BETWEEN DATE '2022-01-01' AND DATE '2022-12-31'", ">= DATE '2022-01-01'")
                                 for v in record["answer"]["views"]]
    replay = tmp_path / "wrong.jsonl"
    replay.write_text(json.dumps(record) + "\n")
    columns = [a for n, c in demo.COLUMNS.items() for a in ("--source-columns", f"{n}={','.join(c)}")]
    done = _rewrite(small["folder"], replay, tmp_path / "out", *columns)
    assert done.returncode == 1
    assert not (tmp_path / "out" / "views.sql").exists()


def test_source_columns_must_fit_the_file(small, tmp_path):
    done = _rewrite(small["folder"], EXAMPLE / "reference.jsonl", tmp_path / "out",
                    "--source-columns", "mails=a,b,c")
    assert done.returncode == 2
    assert "has 5 columns, but 3 names are given" in done.stderr


def test_demo_json_at_a_small_size(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-m", "ivm.cli", "demo", "--customers", "300", "--out",
                           str(tmp_path / "demo"), "--json"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["equal"] is True
    artifacts = summary["artifacts"]
    assert {"eu_customers", "mails_2022", "customer_mails", "training_rows", "training_stats",
            "pipeline.py rows", "complaints: X", "complaints: y", "complaints: split"} <= set(artifacts)
    assert all(a["equal"] is True for a in artifacts.values())
    assert summary["incremental_seconds"] > 0 and summary["recompute_seconds"] > 0
    assert summary["rewrite"]["verified"] and "hand-written" in summary["rewrite"]["answer"]
    found = summary["found"]
    assert found["card_mails"] > 0 and found["customers"] > 0
    step1, step2 = summary["steps"]
    assert step1["source_rows"] == {"mails": found["card_mails"]}
    assert set(step2["source_rows"]) == {"customers", "mails"}
    removed = step1["training_rows_removed"]["count"] + step2["training_rows_removed"]["count"]
    assert removed == artifacts["training_rows"]["rows_removed"] == summary["training_rows_removed"]
    split = step2["split"]
    assert split["train_before"] + split["test_before"] - split["train_after"] - split["test_after"] \
        == step2["training_rows_removed"]["count"]
    changed = (tmp_path / "demo" / "changed_training_rows.csv").read_text().splitlines()
    assert len(changed) == removed + 1
    assert json.loads((tmp_path / "demo" / "summary.json").read_text())["equal"] is True
