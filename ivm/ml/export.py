"""Export a feature set: NumPy arrays in Python, or npy / Parquet / Arrow files.

All conversions are columnar (Arrow to NumPy, one column at a time); no Python loop runs per row.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ivm.errors import IvmError
from ivm.ml import features
from ivm.ml.compile import LABEL, x_query
from ivm.ml.features import TEST

FORMATS = ("npy", "parquet", "arrow")


@dataclass
class TrainingSet:
    """``X_train, y_train, X_test, y_test = training_set(db, "name")``; the lineage of every row is in
    ``ids_train`` / ``ids_test`` (one column per source scan, named in ``lineage``)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    ids_train: np.ndarray
    ids_test: np.ndarray
    feature_names: list[str]
    lineage: list[str]
    seconds: float = 0.0
    table: pa.Table | None = field(default=None, repr=False)

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))


def table(db, name: str) -> tuple[pa.Table, list[str], features.FeatureSet]:
    """The export as an Arrow table: lineage columns, ``__test``, ``__label`` and the X columns."""
    fs = features.get(db, name)
    sql, names = x_query(db, fs)
    try:
        result = db.con.sql(sql).to_arrow_table()
    except duckdb.Error as error:
        raise IvmError(f"cannot compute feature set {name}: {_first_line(error)}") from None
    return result, names, fs


def training_set(db, name: str) -> TrainingSet:
    start = time.perf_counter()
    result, names, fs = table(db, name)
    test = result.column(TEST).to_numpy(zero_copy_only=False).astype(bool)
    x = _matrix(result, names)
    y = _vector(result.column(LABEL))
    ids = np.column_stack([result.column(n).to_numpy(zero_copy_only=False) for n in fs.lineage.names]) \
        .astype(np.int64).reshape(result.num_rows, len(fs.lineage.names))
    return TrainingSet(X_train=x[~test], y_train=y[~test], X_test=x[test], y_test=y[test],
                       ids_train=ids[~test], ids_test=ids[test], feature_names=names,
                       lineage=lineage_names(fs), seconds=time.perf_counter() - start, table=result)


def lineage_names(fs) -> list[str]:
    """Names of the lineage columns in exports: ``<source>_rid`` (``_2``, ``_3`` for a source read twice)."""
    names, seen = [], {}
    for source in fs.lineage.sources:
        seen[source] = seen.get(source, 0) + 1
        names.append(f"{source}_rid" + (f"_{seen[source]}" if seen[source] > 1 else ""))
    return names


def _matrix(result: pa.Table, names: list[str]) -> np.ndarray:
    if not names:
        return np.empty((result.num_rows, 0))
    return np.column_stack([_floats(result.column(n)) for n in names]).reshape(result.num_rows, len(names))


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)


def _vector(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        return _floats(column)
    return column.to_numpy(zero_copy_only=False)


def export(db, name: str, fmt: str, out: str | os.PathLike) -> dict:
    """Write feature set ``name`` to ``out``.

    * ``npy``: a folder with ``X_train.npy, y_train.npy, X_test.npy, y_test.npy, ids_train.npy,
      ids_test.npy`` and ``columns.json`` (feature and lineage column names);
    * ``parquet`` / ``arrow`` (Arrow IPC file): one table, one row per example: the lineage columns,
      ``split`` ('train' or 'test'), ``label`` and one DOUBLE column per X column.

    Files are written next to their target and renamed into place, so a failed export leaves nothing
    half-written."""
    if fmt not in FORMATS:
        raise IvmError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    out = Path(out)
    start = time.perf_counter()
    data = training_set(db, name)
    fs = features.get(db, name)
    if fmt == "npy":
        _check_folder(out)
        arrays = {"X_train": data.X_train, "y_train": data.y_train, "X_test": data.X_test, "y_test": data.y_test,
                  "ids_train": data.ids_train, "ids_test": data.ids_test}
        for stem, array in arrays.items():
            _atomic(out / f"{stem}.npy", lambda f, a=array: np.save(f, a, allow_pickle=a.dtype == object))
        meta = {"features": data.feature_names, "lineage": data.lineage, "train": len(data.y_train),
                "test": len(data.y_test)}
        _atomic(out / "columns.json", lambda f: f.write(json.dumps(meta, indent=2).encode()))
    else:
        result = data.table
        split = pc.if_else(result.column(TEST), "test", "train")
        columns = {new: result.column(old) for new, old in zip(data.lineage, fs.lineage.names)}
        columns["split"] = split
        columns["label"] = result.column(LABEL)
        for n in data.feature_names:
            columns[n] = result.column(n)
        output = pa.table(columns)
        _check_parent(out)
        if fmt == "parquet":
            import pyarrow.parquet as pq
            _atomic(out, lambda f: pq.write_table(output, f))
        else:
            import pyarrow.feather as feather
            _atomic(out, lambda f: feather.write_feather(output, f, compression="uncompressed"))
    return {"name": name, "format": fmt, "out": str(out), "rows": len(data.y_train) + len(data.y_test),
            "train": len(data.y_train), "test": len(data.y_test), "columns": len(data.feature_names),
            "seconds": time.perf_counter() - start}


def _check_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise IvmError(f"cannot export to {out}: it is a file; npy exports go to a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise IvmError(f"cannot export to {out}: {error.strerror or error}") from None
    if not os.access(out, os.W_OK):
        raise IvmError(f"cannot export to {out}: the folder is not writable")


def _check_parent(out: Path) -> None:
    if out.is_dir():
        raise IvmError(f"cannot export to {out}: it is a folder; give a file name")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise IvmError(f"cannot export to {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise IvmError(f"cannot export to {out}: folder {parent} is not writable")


def _atomic(target: Path, write) -> None:
    try:
        handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp",
                                             delete=False)
    except OSError as error:
        raise IvmError(f"cannot export to {target}: {error.strerror or error}") from None
    try:
        with handle:
            write(handle)
        os.replace(handle.name, target)
    except BaseException as error:
        try:
            os.unlink(handle.name)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise IvmError(f"cannot export to {target}: {error.strerror or error}") from None
        raise


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
