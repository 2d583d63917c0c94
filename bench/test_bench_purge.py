"""Purge time vs database size: ``delete(..., purge=True)`` rewrites the whole file, so it costs time in
proportion to the database, not to the rows deleted.

    pytest bench/test_bench_purge.py --benchmark-enable --benchmark-json=bench/purge.json
    python bench/test_bench_purge.py bench/purge.json      # the README table

Sources: ``people`` (card number, e-mail, name, country) and ``payments`` (a fifth of a person each, with
an amount and a memo); views: a join copying names and cards, and an aggregate per country. Sizes are
chosen so the database file is about 100 MB and 1 GB (``IVM_BENCH_PURGE_ROWS=600000,6000000`` by default:
payments rows). Each group measures, on a fresh copy of the file per round: ``delete`` (10 people, no
purge), ``delete_purge`` (the same deletion with ``purge=True``: rewrite, fingerprint scan, receipt) and
``file_copy`` (``shutil.copyfile`` of the database: the raw I/O floor of any rewrite).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

import ivm

ROWS = [int(r) for r in os.environ.get("IVM_BENCH_PURGE_ROWS", "600000,6000000").split(",")]
ROUNDS = 2
VIEWS = """
CREATE VIEW paid AS SELECT p.pid, p.amount, p.memo, c.name, c.card
    FROM payments p JOIN people c ON p.person = c.id;
CREATE VIEW per_country AS SELECT c.country, COUNT(*) AS n, SUM(p.amount) AS total
    FROM payments p JOIN people c ON p.person = c.id GROUP BY c.country;
"""


def build(path: Path, rows: int) -> None:
    maker = duckdb.connect()
    people = maker.sql(
        f"SELECT i AS id, printf('4111-%04d-%04d-%04d', i // 100000000 % 10000, i // 10000 % 10000, i % 10000) "
        f"AS card, 'person' || i || '@example.com' AS email, 'Person ' || md5(i::VARCHAR)[:12] AS name, "
        f"['UK','DE','FR','US','IT'][1 + i % 5] AS country FROM range({rows // 5}) r(i)").to_arrow_table()
    payments = maker.sql(
        f"SELECT i AS pid, (hash(i) % {rows // 5})::BIGINT AS person, "
        f"((hash(i * 7) % 100000) / 100)::DECIMAL(10, 2) AS amount, 'memo ' || md5(i::VARCHAR) AS memo "
        f"FROM range({rows}) r(i)").to_arrow_table()
    with ivm.connect(path) as db:
        db.load("people", people)
        db.load("payments", payments)
        db.deploy(VIEWS)
        db.con.execute("CHECKPOINT")


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ivm-bench-purge")
    cache: dict[int, Path] = {}

    def get(rows: int) -> Path:
        if rows not in cache:
            cache[rows] = folder / f"purge_{rows}.duckdb"
            build(cache[rows], rows)
        return cache[rows]

    return get


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("method", ["delete", "delete_purge", "file_copy"])
def test_purge(benchmark, databases, tmp_path, rows, method):
    source = databases(rows)
    size = os.path.getsize(source)
    benchmark.group = f"purge-{rows}"
    benchmark.extra_info.update(rows=rows, method=method, file_bytes=size)
    work = tmp_path / "work.duckdb"
    victims = iter(range(0, 10 ** 9, 1009))
    receipts = []

    if method == "file_copy":
        benchmark.pedantic(lambda: shutil.copyfile(source, work), rounds=ROUNDS, iterations=1)
        return

    opened = []

    def setup():
        while opened:
            opened.pop().close()
        shutil.copyfile(source, work)
        db = ivm.connect(work)
        opened.append(db)
        ids = ", ".join(str(next(victims) % (rows // 5)) for _ in range(10))
        return (db, f"id IN ({ids})"), {}

    def run(db, predicate):
        report = db.delete("people", predicate, purge=method == "delete_purge")
        if "receipt" in report:
            receipts.append(report["receipt"])

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    if receipts:
        last = receipts[-1]
        assert last["fingerprints"]["found"] == 0
        benchmark.extra_info.update(copy_seconds=[r["purge"]["copy_seconds"] for r in receipts],
                                    scan_seconds=[r["purge"]["scan_seconds"] for r in receipts],
                                    check_seconds=[r["purge"]["check_seconds"] for r in receipts],
                                    bytes_after=last["purge"]["bytes_after"],
                                    fingerprints=last["fingerprints"]["scanned"])
    assert opened[-1].verify()["ok"]
    opened.pop().close()


def report(path: str) -> None:
    """Print the README table from a pytest-benchmark JSON file."""
    data = json.load(open(path))
    groups: dict[int, dict] = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if "method" not in info or info.get("rows") is None:
            continue
        groups.setdefault(info["rows"], {})[info["method"]] = (bench["stats"]["median"], info)
    machine = data.get("machine_info", {}).get("cpu", {})
    print(f"Medians of {ROUNDS} rounds in s; {machine.get('brand_raw', '?')}, {machine.get('count', '?')} cores.\n")
    print("| payments rows | file size | delete (no purge) | delete + purge | of which copy | of which table search "
          "| of which byte scan | purge MB/s | file copy |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows, methods in sorted(groups.items()):
        if not {"delete", "delete_purge", "file_copy"} <= set(methods):
            continue
        purge, info = methods["delete_purge"]
        size = info["file_bytes"]
        copy, check, scan = (_median(info.get(k, [0.0])) for k in ("copy_seconds", "check_seconds", "scan_seconds"))
        print(f"| {rows:,} | {size / 1e6:.0f} MB | {methods['delete'][0]:.2f} | {purge:.2f} | {copy:.2f} "
              f"| {check:.2f} | {scan:.2f} | {size / 1e6 / purge:.0f} | {methods['file_copy'][0]:.2f} |")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


if __name__ == "__main__":
    report(sys.argv[1])
