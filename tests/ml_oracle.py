"""An independent full rerun of a feature set, for the differential tests of the ML layer.

It shares no code with ``ivm.ml``: the prep rows (with their source row ids) come from a plain DuckDB
connection running a hand-written lineage-carrying version of the prep view over copies of the source
tables; statistics are exact Python fractions; every feature is computed in Python from its definition in
the README; the split is MD5 computed by ``hashlib``. DuckDB is used only as a function library for its
``hash()`` of tokens (the documented token hash).
"""
from __future__ import annotations

import hashlib
import math
import re
from decimal import Decimal
from fractions import Fraction

import duckdb
import numpy as np
import pyarrow as pa

RELATIVE = 1e-9
_hash_con = duckdb.connect()


def token_hashes(tokens: list[str], dims: int) -> list[int]:
    if not tokens:
        return []
    rows = _hash_con.execute("SELECT hash(t) FROM unnest(?::VARCHAR[]) AS u(t)", [tokens]).fetchall()
    return [int(r[0]) % dims for r in rows]


def _exact(value) -> Fraction:
    if isinstance(value, Decimal):
        return Fraction(value)
    if isinstance(value, bool):
        return Fraction(int(value))
    return Fraction(value)


def _stats(values: list):
    present = [v for v in values if v is not None]
    if not present:
        return None
    exact = [_exact(v) for v in present]
    n = len(exact)
    mean = sum(exact) / n
    var = sum((x - mean) ** 2 for x in exact) / n
    sd = math.sqrt(var) if var else 1.0
    lo, hi = float(min(present)), float(max(present))
    return float(mean), sd, lo, hi


def rerun(rows: list[dict], lineage: list[str], spec: dict, functions: dict, label) -> dict:
    """X, y, split and lineage of ``rows`` (dicts of prep columns plus ``s0, s1, ...``) under ``spec`` (the
    file format), computed from scratch; ``label`` is a Python function of a row."""
    rows = sorted(rows, key=lambda r: tuple(r[s] for s in lineage))
    seed, fraction = spec["split"]["seed"], spec["split"]["test_fraction"]
    names, columns = [], []
    for feature in spec["features"]:
        kind = next(k for k in ("passthrough", "standard", "minmax", "onehot", "bucket", "hash", "udf") if k in feature)
        name = feature["name"]
        column = feature["column"] if kind == "udf" else feature[kind]
        values = [r[column] for r in rows]
        numeric = kind in ("passthrough", "standard", "minmax", "bucket")
        floats = [float(v) if v is not None else math.nan for v in values] if numeric else []
        if kind in ("standard", "minmax") or (kind == "bucket" and "bins" in feature):
            stats = _stats(values)
        if kind == "passthrough":
            names.append(name)
            columns.append(floats)
        elif kind == "standard":
            names.append(name)
            if stats:
                present = [_exact(v) for v in values if v is not None]
                mean, sd = sum(present) / len(present), stats[1]
                columns.append([float(_exact(v) - mean) / sd if v is not None else math.nan for v in values])
            else:
                columns.append(floats)
        elif kind == "minmax":
            names.append(name)
            if stats:
                lo, hi = stats[2], stats[3]
                span = 1.0 if hi == lo else hi - lo
                columns.append([(x - lo) / span for x in floats])
            else:
                columns.append(floats)
        elif kind == "bucket" and "edges" in feature:
            names.append(name)
            columns.append([sum(1.0 for e in feature["edges"] if x >= e) if not math.isnan(x) else math.nan
                            for x in floats])
        elif kind == "bucket":
            names.append(name)
            k = feature["bins"]
            if stats:
                lo, hi = stats[2], stats[3]
                span = 1.0 if hi == lo else hi - lo
                columns.append([float(min(math.floor((x - lo) / span * k), k - 1)) if not math.isnan(x) else math.nan
                                for x in floats])
            else:
                columns.append(floats)
        elif kind == "onehot":
            categories = sorted({v for v in values if v is not None})
            for c in categories:
                names.append(f"{name}={str(c).lower() if isinstance(c, bool) else c}")
                columns.append([1.0 if v == c else 0.0 for v in values])
        elif kind == "hash":
            dims = feature["dims"]
            counts = []
            for v in values:
                tokens = [t for t in re.split(r"[^0-9a-z]+", str(v).lower()) if t] if v is not None else []
                row = [0.0] * dims
                for h in token_hashes(tokens, dims):
                    row[h] += 1.0
                counts.append(row)
            for j in range(dims):
                names.append(f"{name}[{j}]")
                columns.append([c[j] for c in counts])
        elif kind == "udf":
            out = np.asarray(functions[name](pa.array(values)), dtype=float)
            if feature.get("dims"):
                for j in range(feature["dims"]):
                    names.append(f"{name}[{j}]")
                    columns.append(list(out[:, j]))
            else:
                names.append(name)
                columns.append(list(out))
    x = np.array(columns, dtype=float).T.reshape(len(rows), len(names))
    threshold = round(fraction * 1_000_000)
    test = np.array([int.from_bytes(hashlib.md5(":".join([str(seed)] + [str(r[s]) for s in lineage]).encode())
                                    .digest(), "little") % 1_000_000 < threshold for r in rows], dtype=bool)
    y = [label(r) for r in rows]
    ids = np.array([[r[s] for s in lineage] for r in rows], dtype=np.int64).reshape(len(rows), len(lineage))
    return {"names": names, "X": x, "test": test, "y": y, "ids": ids}


def mismatch(got: np.ndarray, want: np.ndarray) -> int | None:
    """First column of ``got`` not within a relative 1e-9 of ``want`` (of the larger value, or of the
    column's largest magnitude for values near 0); NaN equals NaN."""
    if got.shape != want.shape:
        return -1
    for j in range(got.shape[1]):
        a, b = got[:, j], want[:, j]
        scale = max(np.nanmax(np.abs(a), initial=0.0), np.nanmax(np.abs(b), initial=0.0))
        with np.errstate(invalid="ignore"):
            ok = (np.abs(a - b) <= RELATIVE * np.maximum(np.maximum(np.abs(a), np.abs(b)), scale)) \
                | (np.isnan(a) & np.isnan(b))
        if not ok.all():
            return j
    return None


def assert_equal(ts, want: dict, lineage_names: list[str], when: str) -> None:
    """``ts`` (an ivm TrainingSet) equals the rerun ``want``."""
    assert ts.feature_names == want["names"], f"{when}: X columns {ts.feature_names} != {want['names']}"
    assert ts.lineage == lineage_names, f"{when}: lineage {ts.lineage} != {lineage_names}"
    test = want["test"]
    assert np.array_equal(ts.ids_train, want["ids"][~test]), f"{when}: train rows differ"
    assert np.array_equal(ts.ids_test, want["ids"][test]), f"{when}: test rows differ"
    for got, side in ((ts.X_train, ~test), (ts.X_test, test)):
        bad = mismatch(got, want["X"][side])
        assert bad is None, f"{when}: X column {want['names'][bad] if bad >= 0 else '?'} differs:\n" \
                            f"{got[:, bad] if bad >= 0 else got}\n{want['X'][side][:, bad] if bad >= 0 else ''}"
    y = want["y"]
    for got, side in ((ts.y_train, ~test), (ts.y_test, test)):
        expected = [v for v, s in zip(y, side) if s]
        got_list = [None if (isinstance(v, float) and math.isnan(v)) else v for v in got.tolist()]
        expected = [None if v is None else (float(v) if isinstance(v, Decimal) else v) for v in expected]
        assert len(got_list) == len(expected) and all(
            (a is None and b is None) or (a is not None and b is not None and (a == b or math.isclose(a, b, rel_tol=1e-12)))
            for a, b in zip(got_list, expected)), f"{when}: y differs: {got_list} != {expected}"
