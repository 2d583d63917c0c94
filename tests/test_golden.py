"""Golden fixtures: view SQL in (``tests/fixtures/golden/*.sql``), plan and delta SQL out (``*.expected``).

The expected files are ``ivm explain`` output. After an intended change, regenerate them with
``IVM_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and review the diff. Each fixture is also deployed
on a small data set and checked against a recompute after a deletion, so a golden file cannot freeze a
wrong plan.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import ivm

FIXTURES = Path(__file__).parent / "fixtures" / "golden"
CASES = sorted(p for p in FIXTURES.glob("*.sql") if not p.name.startswith("_"))

DATA = """
INSERT INTO customers SELECT i, 'c' || i, ['UK', 'DE', 'FR'][1 + i % 3], i % 4 FROM range(30) r(i);
INSERT INTO orders SELECT i, i % 30, (i * 37 % 300)::DECIMAL(10, 2), i % 5, i / 7.0 FROM range(200) r(i);
INSERT INTO products SELECT i, i % 200, 'p' || (i % 11) FROM range(300) r(i);
"""


def _database() -> ivm.Database:
    db = ivm.connect(":memory:")
    for statement in (FIXTURES / "_schema.sql").read_text().split(";"):
        if statement.strip():
            name = statement.split()[2]
            db.con.execute(statement.replace(f"TABLE {name}", f"TABLE __tmp_{name}"))
            db.con.execute(DATA_FOR[name])
            db.load(name, db.con.sql(f"SELECT * FROM __tmp_{name}").to_arrow_table())
    return db


DATA_FOR = {line.split()[2]: line.replace(f"INTO {line.split()[2]}", f"INTO __tmp_{line.split()[2]}")
            for line in DATA.strip().splitlines()}


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_plan_and_delta_sql_match_golden_file(case):
    db = _database()
    db.deploy(case.read_text())
    actual = db.explain() + "\n"
    expected_path = case.with_suffix(".expected")
    if os.environ.get("IVM_UPDATE_GOLDEN"):
        expected_path.write_text(actual)
    assert expected_path.exists(), f"run IVM_UPDATE_GOLDEN=1 pytest {__file__} to create {expected_path.name}"
    assert actual == expected_path.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_plans_stay_equal_to_recompute(case):
    db = _database()
    db.deploy(case.read_text())
    for table, predicate in [("orders", "oid % 3 = 0"), ("customers", "country = 'DE'"),
                             ("products", "pid < 50"), ("orders", "amount > 250")]:
        db.delete(table, predicate)
        assert db.verify()["ok"], (case.name, table, predicate)
