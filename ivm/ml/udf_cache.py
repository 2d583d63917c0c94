"""Python UDF features: find the function, call it on Arrow batches, check what it returns.

A UDF feature is computed once per row lineage, when the row first appears (deployment, or a recompute that
brings new rows), and stored in the feature set's row table; a deletion only deletes stored values. This
module only calls functions: where the values live is :mod:`ivm.ml.features`.

The contract: ``function(values: pyarrow.Array) -> numpy array`` (or an Arrow array, or a list) of shape
``(n,)`` for a one-value feature and ``(n, dims)`` for a vector feature, numbers only. Anything else, or an
exception, is reported as an :class:`IvmError` naming the feature, and nothing is changed.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ivm.errors import IvmError, first_line
from ivm.ml.spec import Feature
from ivm.userfile import load_module

_modules: dict[str, object] = {}


def find(feature: Feature, functions: Mapping[str, Callable] | None = None) -> Callable:
    """The callable of a UDF feature: given to the API, passed in ``functions`` (by feature name or function
    name), or imported from its reference (``file.py:function`` or ``module:function``)."""
    if feature.function is not None:
        return feature.function
    functions = functions or {}
    path, _, name = feature.udf.rpartition(":")
    for key in (feature.name, name, feature.udf):
        if key in functions:
            return functions[key]
    if path.endswith(".py"):
        module = _load_file(Path(path), feature)
    else:
        try:
            module = importlib.import_module(path)
        except Exception as error:  # the user's module: any failure is theirs to fix
            raise IvmError(f"UDF feature {feature.name}: cannot import {path} ({type(error).__name__}: "
                           f"{first_line(error)}); pass the function itself (udfs={{'{feature.name}': f}})") from None
    target = module
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            hint = (f"; a function defined in a script is not there when another process opens the database: pass "
                    f"it again (udfs={{'{feature.name}': f}}) or put it in a .py file the spec names"
                    if path == "__main__" else "")
            raise IvmError(f"UDF feature {feature.name}: {path} has no function {name}{hint}")
    if not callable(target):
        raise IvmError(f"UDF feature {feature.name}: {feature.udf} is not a function")
    return target


def _load_file(path: Path, feature: Feature):
    key = str(path.resolve()) if path.exists() else str(path)
    if key in _modules:
        return _modules[key]
    if not path.is_file():
        raise IvmError(f"UDF feature {feature.name}: file {path} does not exist")
    module = load_module(path, f"UDF feature {feature.name}: cannot load {path}")
    _modules[key] = module
    return module


def compute(feature: Feature, function: Callable, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Call ``function`` on ``values`` in batches of ``feature.batch_size``; the result as a float64 Arrow
    array (``dims`` = 0) or a fixed-size list array of ``dims`` float64 values."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    parts = []
    for start in range(0, len(values), feature.batch_size):
        batch = values.slice(start, feature.batch_size)
        try:
            result = function(batch)
        except Exception as error:  # the user's function: report it, change nothing
            raise IvmError(f"UDF feature {feature.name} ({feature.udf}) raised {type(error).__name__}: "
                           f"{first_line(error)} (on a batch of {len(batch)} rows); nothing was changed") from None
        parts.append(_checked(feature, result, len(batch)))
    flat = np.concatenate(parts) if parts else np.empty((0, feature.dims) if feature.dims else 0)
    if feature.dims:
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1), type=pa.float64()), feature.dims)
    return pa.array(flat, type=pa.float64())


def _checked(feature: Feature, result, rows: int) -> np.ndarray:
    expected = (rows, feature.dims) if feature.dims else (rows,)
    try:
        array = _as_numpy(result, feature.dims)
    except (TypeError, ValueError, pa.ArrowException) as error:
        raise IvmError(f"UDF feature {feature.name} ({feature.udf}) returned something that is not an array of "
                       f"numbers ({first_line(error)}); expected shape {expected}; nothing was changed") from None
    if array.shape != expected:
        raise IvmError(f"UDF feature {feature.name} ({feature.udf}) returned shape {array.shape} for a batch of "
                       f"{rows} rows; expected {expected}; nothing was changed")
    return array


def _as_numpy(result, dims: int) -> np.ndarray:
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if isinstance(result, pa.Array):
        if pa.types.is_list(result.type) or pa.types.is_fixed_size_list(result.type) \
                or pa.types.is_large_list(result.type):
            lengths = pc.list_value_length(result).to_numpy(zero_copy_only=False)
            if len(result) and (lengths.min() != lengths.max() or result.null_count):
                raise ValueError("vectors of different lengths")
            width = int(lengths[0]) if len(result) else dims
            flat = result.flatten().to_numpy(zero_copy_only=False)
            return np.asarray(flat, dtype=np.float64).reshape(len(result), width)
        result = result.to_numpy(zero_copy_only=False)
    array = np.asarray(result)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"values of type {array.dtype}")
    return array.astype(np.float64, copy=False)
