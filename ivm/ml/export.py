"""Export a feature set: NumPy arrays in Python, or npy / Parquet / Arrow files.

All conversions are columnar: DuckDB hands NumPy arrays (or an Arrow table for the files) over one column at
a time; no Python loop runs per row. (NumPy comes straight from DuckDB: pyarrow's to_numpy would import
pandas, a second or more on the first call.)
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ivm.errors import IvmError, first_line
from ivm.ml import features
from ivm.ml import lineage as lineages
from ivm.ml.compile import LABEL, x_column, x_query
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

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))


def _query(db, name: str, fetch):
    """Run feature set ``name``'s X query through ``fetch`` (Arrow or NumPy), errors as one line."""
    fs = features.get(db, name)
    sql, names = x_query(db, fs)
    try:
        return fetch(sql), names, fs
    except duckdb.Error as error:
        raise IvmError(f"cannot compute feature set {name}: {first_line(error)}") from None


def table(db, name: str) -> tuple[pa.Table, list[str], features.FeatureSet]:
    """The export as an Arrow table: lineage columns, ``__test``, ``__ivm_label`` and the X columns (named by
    :func:`ivm.ml.compile.x_column`; their names are the list returned beside)."""
    result, names, fs = _query(db, name, lambda sql: db.con.sql(sql).to_arrow_table())
    return result, names, fs


def training_set(db, name: str) -> TrainingSet:
    start = time.perf_counter()
    result, names, fs = _query(db, name, lambda sql: db.con.execute(sql).fetchnumpy())
    test = np.asarray(result[TEST], dtype=bool)
    rows = len(test)
    x = np.column_stack([_floats(result[x_column(j)]) for j in range(len(names))]).reshape(rows, len(names)) \
        if names else np.empty((rows, 0))
    y = _vector(result[LABEL])
    ids = np.column_stack([np.asarray(result[n], dtype=np.int64) for n in fs.lineage.names]) \
        .reshape(rows, len(fs.lineage.names))
    return TrainingSet(X_train=x[~test], y_train=y[~test], X_test=x[test], y_test=y[test],
                       ids_train=ids[~test], ids_test=ids[test], feature_names=names,
                       lineage=lineage_names(fs), seconds=time.perf_counter() - start)


def lineage_names(fs) -> list[str]:
    return lineages.export_names(fs.lineage.sources)


def _floats(column) -> np.ndarray:
    """A DuckDB column as float64, NULL as NaN."""
    if isinstance(column, np.ma.MaskedArray):
        return np.ma.filled(column.astype(np.float64), np.nan)
    return np.asarray(column, dtype=np.float64)


def _vector(column) -> np.ndarray:
    """The label: numbers as float64 (NULL as NaN), booleans as bool, anything else as objects (NULL as
    None); a boolean or integer label with NULLs becomes objects."""
    if column.dtype.kind == "f":
        return _floats(column)
    if isinstance(column, np.ma.MaskedArray):
        if not column.mask.any():
            return column.data
        values = column.data.astype(object)
        values[np.ma.getmaskarray(column)] = None
        return values
    return column


def export(db, name: str, fmt: str, out: str | os.PathLike) -> dict:
    """Write feature set ``name`` to ``out``.

    * ``npy``: a folder with ``X_train.npy, y_train.npy, X_test.npy, y_test.npy, ids_train.npy,
      ids_test.npy`` and ``columns.json`` (feature and lineage column names);
    * ``parquet`` / ``arrow`` (Arrow IPC file): one table, one row per example: the lineage columns,
      ``split`` ('train' or 'test'), ``label`` and one DOUBLE column per X column.

    Files are written next to their targets and renamed into place once all are written, so a failed export
    leaves nothing half-written, and the old files of an npy folder as they were."""
    if fmt not in FORMATS:
        raise IvmError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if not isinstance(out, (str, os.PathLike)):
        raise IvmError(f"export needs the path to write to, not {out!r:.60}")
    out = Path(out)
    if db.path != ":memory:":
        database = Path(db.path).resolve()
        if out.resolve() in (database, Path(f"{database}.wal")):
            raise IvmError(f"{out} is the database file (or its WAL); export to another path")
    start = time.perf_counter()
    if fmt == "npy":
        data = training_set(db, name)
        _check_folder(out)
        arrays = {"X_train": data.X_train, "y_train": data.y_train, "X_test": data.X_test, "y_test": data.y_test,
                  "ids_train": data.ids_train, "ids_test": data.ids_test}
        writes = {out / f"{stem}.npy": lambda f, a=array: np.save(f, a, allow_pickle=a.dtype == object)
                  for stem, array in arrays.items()}
        meta = {"features": data.feature_names, "lineage": data.lineage, "train": len(data.y_train),
                "test": len(data.y_test)}
        writes[out / "columns.json"] = lambda f: f.write(json.dumps(meta, indent=2).encode())
        _atomic(writes)
        rows, train, width = len(data.y_train) + len(data.y_test), len(data.y_train), len(data.feature_names)
    else:
        result, names, fs = table(db, name)
        split = pc.if_else(result.column(TEST), "test", "train")
        columns = [result.column(n) for n in fs.lineage.names] + [split, result.column(LABEL)] + \
            [result.column(x_column(j)) for j in range(len(names))]
        output = pa.Table.from_arrays(columns, names=lineage_names(fs) + ["split", "label"] + names)
        rows, width = result.num_rows, len(names)
        train = rows - int(pc.sum(result.column(TEST).cast(pa.int64())).as_py() or 0)
        _check_parent(out)
        if fmt == "parquet":
            import pyarrow.parquet as pq
            _atomic({out: lambda f: pq.write_table(output, f)})
        else:
            import pyarrow.feather as feather
            _atomic({out: lambda f: feather.write_feather(output, f, compression="uncompressed")})
    return {"name": name, "format": fmt, "out": str(out), "rows": rows, "train": train, "test": rows - train,
            "columns": width, "seconds": time.perf_counter() - start}


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
    if out.exists() and not out.is_file():  # the new file is renamed over it: that would replace a device
        raise IvmError(f"cannot export to {out}: it is not a regular file (a device, a pipe or a socket)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise IvmError(f"cannot export to {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise IvmError(f"cannot export to {out}: folder {parent} is not writable")


def _atomic(writes: dict) -> None:
    """Write each ``{target: write(file)}`` to a temporary file beside its target, then, once all are written
    and no target is a folder, rename them into place: a failure on the way leaves the old files as they were
    (for an npy folder, not new arrays beside an old columns.json)."""
    temporary: dict[Path, str] = {}
    target = next(iter(writes))
    try:
        for target, write in writes.items():
            handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp",
                                                 delete=False)
            temporary[target] = handle.name
            with handle:
                write(handle)
        for target in writes:
            if target.is_dir():
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
        for target in writes:
            os.replace(temporary.pop(target), target)
    except BaseException as error:
        for name in temporary.values():
            try:
                os.unlink(name)
            except OSError:
                pass
        if isinstance(error, OSError):
            raise IvmError(f"cannot export to {target}: {error.strerror or error}") from None
        raise
