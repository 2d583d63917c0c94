"""``ivm compare``: run one deletion incrementally and as a full rerun, on copies, and compare the results.

Two copies of the database file are made in a temporary folder (the original is only read, byte for byte):

* **incremental**: ``Database.delete`` (the source DELETE and the maintenance of every view, statistics view,
  feature row table and the audit log, one transaction). X and y are computed lazily at export time, so they
  are not part of this time; ``export_seconds`` says what computing them costs.
* **full rerun**: a plain DELETE of the same source rows, then everything derived is rebuilt from the
  sources: every view (prep and statistics included), every feature set's UDF values for all rows (the cache
  is emptied first), the split, and X and y.

Then every view is compared as a bag (DOUBLE columns within a relative 1e-9) and every feature set's export
position by position: feature names, lineage ids, split and labels exactly, X within a relative 1e-9 of the
column's largest magnitude.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping

import duckdb
import numpy as np

from ivm import compare as bags
from ivm.errors import IvmError
from ivm.ml.export import training_set
from ivm.ml import features as ml_features
from ivm.plan.parse import frozen_clock, parse_predicate
from ivm.sql import INTERNAL_SCHEMA, render
from ivm.store import settings
from ivm.store.engine import Database, check_database_file, open_error

RELATIVE = 1e-9


def _remove_copies_of_killed_runs() -> None:
    """The copies of a compare whose process was killed (SIGKILL runs no cleanup) hold the whole database,
    the rows the deletion was about included: remove those of processes that no longer run."""
    for folder in Path(tempfile.gettempdir()).glob("ivm-compare-*-*"):
        pid = folder.name.split("-")[2]
        if not pid.isdigit() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # another user's process, or no permission to ask: leave it
            pass


def run(path: str | os.PathLike, table: str, where: str, *, udfs=None,
        functions: Mapping[str, Callable] | None = None) -> dict:
    """Compare; returns ``{"equal", "incremental_seconds", "recompute_seconds", "speedup", "export_seconds",
    "deleted_rows", "artifacts": {NAME: {"kind", "equal", "rows_removed", ...}}}``."""
    path = Path(path)
    if not path.is_file():
        raise IvmError(f"database {path} does not exist")
    import pandas  # noqa: F401  (pyarrow imports it at its first conversion, ~0.5 s: not in either side's time)

    _remove_copies_of_killed_runs()
    folder = Path(tempfile.mkdtemp(prefix=f"ivm-compare-{os.getpid()}-"))
    try:
        incremental, rerun = folder / "incremental.duckdb", folder / "rerun.duckdb"
        with _held(path):  # no other process writes while the copies are taken
            for target in (incremental, rerun):
                _copy(path, target)
        with Database(incremental, udfs=udfs) as db:
            _register(db, functions)
            rows_before = _rows(db)
            # a retention rule reading the clock selects the same rows on both copies
            where = render(frozen_clock(parse_predicate(where), db.con))
            report = db.delete(table, where)
            started = time.perf_counter()
            fast = {name: training_set(db, name) for name in ml_features.sets(db)}
            export_seconds = time.perf_counter() - started
            rows_after = _rows(db)
            columns = {name: plan.columns for name, plan in db.plans.items()}
        with Database(rerun, udfs=udfs) as db:
            _register(db, functions)
            started = time.perf_counter()
            predicate = render(db._checked_predicate(report["source"], where))  # #N named as in the deletion
            db.con.execute(f'DELETE FROM "{INTERNAL_SCHEMA}"."{report["source"]}" WHERE {predicate}')
            db.con.begin()
            ml_features.forget_rows(db)
            db.con.commit()
            rebuilt = db.recompute()
            slow = {name: training_set(db, name) for name in ml_features.sets(db)}
            recompute_seconds = time.perf_counter() - started
        artifacts = {}
        con = settings.quiet(duckdb.connect(str(incremental)))
        try:
            con.execute(f"ATTACH '{_literal(rerun)}' AS __ivm_rerun (READ_ONLY)")
            for name, cols in columns.items():
                select = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
                equal, rows = bags.bags_equal(con, f'SELECT {select} FROM "{INTERNAL_SCHEMA}"."{name}"',
                                              f'SELECT {select} FROM __ivm_rerun."{INTERNAL_SCHEMA}"."{name}"')
                artifacts[name] = {"kind": "view", "equal": equal, "rows_removed": rows_before[name] - rows_after[name],
                                   "rows": rows}
        finally:
            con.close()
        for name, data in fast.items():
            verdict = training_sets_equal(data, slow[name])
            removed = report["features"].get(name, {}).get("rows_removed", 0)
            udf_rows = rebuilt["features"].get(name, {}).get("udf_rows", {})
            artifacts[name] = {"kind": "features", "equal": verdict is None, "rows_removed": removed,
                               "rows": len(data.y_train) + len(data.y_test), "columns": len(data.feature_names),
                               "train": len(data.y_train), "test": len(data.y_test),
                               "udf_rows_recomputed": udf_rows, **({"difference": verdict} if verdict else {})}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    incremental_seconds = report["seconds"]
    return {"equal": all(a["equal"] for a in artifacts.values()), "source": report["source"],
            "deleted_rows": report["deleted_rows"], "incremental_seconds": incremental_seconds,
            "recompute_seconds": recompute_seconds,
            "speedup": recompute_seconds / incremental_seconds if incremental_seconds else float("inf"),
            "export_seconds": export_seconds, "artifacts": artifacts}


@contextlib.contextmanager
def _held(path: Path):
    """A read-only connection to ``path`` for the duration: DuckDB refuses it while another process has the
    file open for writing, and refuses writers while it is held."""
    check_database_file(str(path))
    try:
        con = settings.quiet(duckdb.connect(str(path), read_only=True))
    except duckdb.Error as error:
        raise open_error(path, error) from None
    try:
        yield
    finally:
        con.close()


def _copy(source: Path, target: Path) -> None:
    try:
        shutil.copyfile(source, target)
        wal = Path(str(source) + ".wal")
        if wal.is_file():
            shutil.copyfile(wal, Path(str(target) + ".wal"))
    except OSError as error:
        raise IvmError(f"cannot copy {source} for the comparison: {error.strerror or error}") from None


def _register(db, functions) -> None:
    if functions:
        for name in ml_features.sets(db):
            ml_features.register_functions(db, name, functions)


def _rows(db) -> dict[str, int]:
    return {name: db.con.execute(f'SELECT COUNT(*) FROM "{INTERNAL_SCHEMA}"."{name}"').fetchall()[0][0]
            for name in db.plans}


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def training_sets_equal(a, b) -> str | None:
    """None if two exports are equal (see the module docstring), else what differs first."""
    if a.feature_names != b.feature_names:
        return f"X columns differ: {a.feature_names} vs {b.feature_names}"
    for part in ("ids_train", "ids_test"):
        if not np.array_equal(getattr(a, part), getattr(b, part)):
            return f"{part} differ (the split or the rows differ)"
    for part in ("y_train", "y_test"):
        if not _vectors_equal(getattr(a, part), getattr(b, part)):
            return f"{part} differ"
    for part in ("X_train", "X_test"):
        bad = matrix_mismatch(getattr(a, part), getattr(b, part))
        if bad is not None:
            return f"{part} column {a.feature_names[bad]} differs"
    return None


def _vectors_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return matrix_mismatch(a.reshape(-1, 1).astype(float), b.reshape(-1, 1).astype(float)) is None
    if a.dtype == object or b.dtype == object:
        return all(_same_value(x, y) for x, y in zip(a.tolist(), b.tolist()))
    return bool(np.array_equal(a, b))


def _same_value(x, y) -> bool:
    """Equality of one label value, element by element for lists and structs (a LIST label arrives as NumPy
    arrays, a STRUCT as dicts), with NaN equal to NaN and floats to a relative 1e-9 as in X."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(y, np.ndarray):
        y = y.tolist()
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same_value(u, v) for u, v in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return list(x) == list(y) and all(_same_value(x[k], y[k]) for k in x)
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or x == y or abs(x - y) <= RELATIVE * max(abs(x), abs(y))
    return bool(x == y) if type(x) is type(y) else False


def matrix_mismatch(a: np.ndarray, b: np.ndarray) -> int | None:
    """Index of the first column where ``a`` and ``b`` differ by more than a relative 1e-9 (of the larger
    value, or of the column's largest magnitude for values near 0), NaN equal to NaN; None if none."""
    if a.shape != b.shape:
        return 0
    for j in range(a.shape[1]):
        x, y = a[:, j], b[:, j]
        both_nan = np.isnan(x) & np.isnan(y)
        scale = max(np.nanmax(np.abs(x), initial=0.0), np.nanmax(np.abs(y), initial=0.0))
        with np.errstate(invalid="ignore"):
            close = np.abs(x - y) <= RELATIVE * np.maximum(np.maximum(np.abs(x), np.abs(y)), scale)
        if not np.all(close | both_nan):
            return j
    return None
