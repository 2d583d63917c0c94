"""Shared checks for the standard benchmark queries (TPC-H, TPC-DS): a plain-DuckDB oracle, a deletion
sequence checked against it after every step, and a hypothesis strategy of deletions over a schema.

The oracle holds the same seeded tables in an in-memory DuckDB with the queries as ordinary views; DELETEs
are applied to it directly, so it shares no code with ivm.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from hypothesis import strategies as st

import ivm
from helpers import bag_difference, fetch, kind_of


@dataclass(frozen=True)
class Workload:
    """``sources`` maps table names to the SELECT that fills them; ``views`` are (name, CREATE VIEW);
    ``keys`` a key column per table; ``values`` a numeric column per table (deletions above a quantile);
    ``parents`` a table's (parent table, foreign key, parent key) (deletions of a parent's children)."""

    sources: dict[str, str]
    views: list[tuple[str, str]]
    keys: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)
    parents: dict[str, tuple[str, str, str]] = field(default_factory=dict)


class Oracle:
    def __init__(self, workload: Workload):
        self.views = [name for name, _ in workload.views]
        self.con = duckdb.connect()
        for name, sql in workload.sources.items():
            self.con.execute(f"CREATE TABLE {name} AS {sql}")
        for _, statement in workload.views:
            self.con.execute(statement)

    def type_differences(self, db) -> dict[str, list]:
        """Columns whose name or type differs from what DuckDB gives the same query."""
        wrong = {}
        for name in self.views:
            got, expected = fetch(db.con, name)[0], fetch(self.con, name)[0]
            if got != expected:
                wrong[name] = [(g, e) for g, e in zip(got, expected) if g != e] or [(len(got), len(expected))]
        return wrong

    def differences(self, db) -> dict[str, tuple[list, list]]:
        wrong = {}
        for name in self.views:
            columns, expected = fetch(self.con, name)
            _, got = fetch(db.con, name)
            floats = [i for i, (_, t) in enumerate(columns) if kind_of(t) == "float"]
            only_got, only_expected = bag_difference(got, expected, floats)
            if only_got or only_expected:
                wrong[name] = (only_got[:3], only_expected[:3])
        return wrong


def check_deletions(workload: Workload, deployed: Path, steps, tmp_path: Path, may_fall_back=()) -> None:
    """Apply ``steps`` to a copy of the deployed database and to the oracle; every view must have the
    oracle's column names and types, and after each step be incremental (but those in ``may_fall_back``, known
    fallbacks) and equal to the oracle's."""
    work = tmp_path / "work.duckdb"
    shutil.copy(deployed, work)
    oracle = Oracle(workload)
    try:
        with ivm.connect(work) as db:
            assert not oracle.differences(db)
            assert not oracle.type_differences(db)
            for table, where in steps:
                report = db.delete(table, where)
                oracle.con.execute(f"DELETE FROM {table} WHERE {where}")
                fallen = {n: v["reason"] for n, v in report["views"].items()
                          if v["strategy"] != "incremental" and n not in may_fall_back}
                assert not fallen, f"after deleting from {table} where {where}: {fallen}"
                wrong = oracle.differences(db)
                assert not wrong, f"after deleting from {table} where {where}, differ from plain DuckDB: {wrong}"
            assert db.verify()["ok"]
    finally:
        oracle.con.close()


@st.composite
def deletion(draw, workload: Workload) -> tuple[str, str]:
    """One deletion from any table: by key modulo, above a drawn quantile of a value, or the children of
    some parents."""
    table = draw(st.sampled_from(sorted(workload.keys)))
    key = workload.keys[table]
    kinds = ["key"] + (["value"] if table in workload.values else []) + (["child"] if table in workload.parents else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "key":
        modulus = draw(st.sampled_from([3, 7, 25, 101]))
        return table, f"{key} % {modulus} = {draw(st.integers(0, modulus - 1))}"
    if kind == "value":
        column = workload.values[table]
        cut = draw(st.integers(0, 99))
        return table, (f"{column} >= (SELECT quantile_disc({column}, {cut / 100}) FROM {table}) "
                       f"AND {key} % 2 = {cut % 2}")
    parent, fk, pk = workload.parents[table]
    return table, f"{fk} IN (SELECT {pk} FROM {parent} WHERE {workload.keys[parent]} % 11 = {draw(st.integers(0, 10))})"


def assert_incremental_and_selecting(db, workload: Workload, may_be_empty=(), known_fallbacks=()) -> None:
    """Every query deployed, every stage incremental (exactly those in ``known_fallbacks`` fall back), and the
    data selects rows for each (else the test would not exercise it)."""
    assert sorted(db.plans) == sorted(name for name, _ in workload.views)
    explained_views = {name: db.explain(name) for name in db.plans}
    fallen = {name for name, explained in explained_views.items() if "FALLBACK" in explained}
    assert fallen == set(known_fallbacks) & set(db.plans), f"fall back: {sorted(fallen)}"
    for name in set(db.plans) - fallen:
        explained = explained_views[name]
        assert ": incremental (" in explained.splitlines()[0] and "FALLBACK" not in explained, explained.splitlines()[0]
    empty = [n for n in db.plans if n not in may_be_empty
             and not db.con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]]
    assert not empty, f"the data selects no rows for {empty}: the test would not exercise them"
