"""Feature specs: what a feature set computes from a data-prep view, as frozen data.

A spec names the prep view, the features (each one transform of one column), an optional label expression
and the split. It comes from the small Python API below or from a YAML/JSON file (``ivm features DB FILE``):

.. code-block:: yaml

    name: churn                  # the feature set (letters, digits, _)
    from: customers_prep         # a deployed view: one row per example
    label: "churned"             # any SQL expression over the view's columns: y
    split: {test_fraction: 0.2, seed: 7}
    features:
      - tenure                              # passthrough: the number as it is (named tenure)
      - {standard: income}                  # (x - mean) / std, population std (named income_standard)
      - {minmax: age, name: age_01}         # (x - min) / (max - min)
      - {onehot: country}                   # one 0/1 column per category present now
      - {bucket: age, edges: [18, 30, 50]}  # index of the bucket: number of edges <= x
      - {bucket: income, bins: 4}           # equal-width bins over the current min..max
      - {hash: review, dims: 16}            # token counts hashed into 16 columns
      - {udf: udfs.py:sentiment, column: review}          # Python: one value per row
      - {udf: udfs.py:embed, column: review, dims: 8}     # Python: a fixed-length vector per row

Example:
    >>> spec = parse({"name": "m", "from": "prep", "label": "y > 0",
    ...               "features": ["x", {"standard": "x", "name": "x_z"}, {"onehot": "c"}]})
    >>> [(f.kind, f.column, f.name) for f in spec.features]
    [('passthrough', 'x', 'x'), ('standard', 'x', 'x_z'), ('onehot', 'c', 'c')]
    >>> standard("income").name, hashed("review", dims=8).name
    ('income_standard', 'review_hash')
"""
from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Iterable
from typing import Callable

from ivm.errors import IvmError
from ivm.userfile import read_text

KINDS = ("passthrough", "standard", "minmax", "onehot", "bucket", "hash", "udf")
NUMERIC_KINDS = ("passthrough", "standard", "minmax", "bucket")  # need a numeric column
STATISTIC_KINDS = ("standard", "minmax", "bucket")              # read maintained statistics (bucket: bins only)
OPTIONS = {"name", "column", "edges", "bins", "dims", "batch_size"}
DEFAULT_BATCH = 4096
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Feature:
    """One output feature: ``kind`` applied to prep column ``column``; X columns are named after ``name``.

    ``udf`` is a reference ``path/to/file.py:function`` or ``package.module:function``; ``function`` the
    callable itself when the Python API was given one (it is not stored in the database).
    """

    kind: str
    column: str
    name: str
    edges: tuple[float, ...] = ()
    bins: int = 0
    dims: int = 0
    udf: str = ""
    batch_size: int = DEFAULT_BATCH
    function: Callable | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        data = {self.kind: self.udf if self.kind == "udf" else self.column, "name": self.name}
        if self.kind == "udf":
            data["column"] = self.column
            data["batch_size"] = self.batch_size
        if self.edges:
            data["edges"] = list(self.edges)
        if self.bins:
            data["bins"] = self.bins
        if self.dims:
            data["dims"] = self.dims
        return data


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    source: str
    features: tuple[Feature, ...]
    label: str | None = None
    test_fraction: float = 0.2
    seed: int = 0

    def to_dict(self) -> dict:
        return {"name": self.name, "from": self.source, "label": self.label,
                "split": {"test_fraction": self.test_fraction, "seed": self.seed},
                "features": [f.to_dict() for f in self.features]}

    @property
    def udf_features(self) -> list[Feature]:
        return [f for f in self.features if f.kind == "udf"]


# -- the Python API ------------------------------------------------------------------------------------
def passthrough(column: str, name: str | None = None) -> Feature:
    return _feature("passthrough", column, name)


def standard(column: str, name: str | None = None) -> Feature:
    """(x - mean) / std with the population standard deviation (ddof = 0, as scikit-learn's StandardScaler);
    a column whose std is 0 is only centred."""
    return _feature("standard", column, name)


def minmax(column: str, name: str | None = None) -> Feature:
    """(x - min) / (max - min); 0 when max = min."""
    return _feature("minmax", column, name)


def onehot(column: str, name: str | None = None) -> Feature:
    """One 0/1 column per non-NULL category currently present, in sorted order, named ``name=value``."""
    return _feature("onehot", column, name)


def bucket(column: str, edges: Iterable[float] | None = None, bins: int | None = None,
           name: str | None = None) -> Feature:
    """The bucket index of x: the number of ``edges`` <= x, or with ``bins`` the equal-width bin of x over
    the current min..max (0 .. bins - 1)."""
    if edges is not None and (isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable)):
        raise IvmError(f"bucket feature of {column!r}: edges must be a list of numbers, not {edges!r:.60}")
    return _feature("bucket", column, name, edges=tuple(edges) if edges is not None else (), bins=bins or 0)


def hashed(column: str, dims: int, name: str | None = None) -> Feature:
    """Token counts of the text hashed into ``dims`` columns (lower case, split on non-alphanumerics)."""
    return _feature("hash", column, name, dims=dims)


def udf(function: Callable | str, column: str, dims: int = 0, name: str | None = None,
        batch_size: int = DEFAULT_BATCH) -> Feature:
    """A Python function of one column, called once per row lineage on Arrow batches.

    ``function(values: pyarrow.Array) -> numpy array``: shape ``(n,)`` for one value per row (``dims=0``) or
    ``(n, dims)`` for a vector. It may also return an Arrow array or a list."""
    if callable(function):
        reference = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', '?')}"
        default = getattr(function, "__name__", "udf")
        feature = _feature("udf", column, name or default, dims=dims, udf=reference, batch_size=batch_size)
        return replace(feature, function=function)
    reference = str(function)
    return _feature("udf", column, name or _function_part(reference), dims=dims, udf=reference,
                    batch_size=batch_size)


def feature_spec(name: str, source: str, features: Iterable[Feature | str], label: str | None = None,
                 test_fraction: float = 0.2, seed: int = 0) -> FeatureSpec:
    """A checked spec; a feature given as a column name is its passthrough, as in a spec file."""
    if isinstance(features, (str, bytes)) or not isinstance(features, Iterable):
        raise IvmError(f"feature set {name}: features must be a list of features or column names, "
                       f"not {features!r:.60}")
    features = tuple(passthrough(f) if isinstance(f, str) else f for f in features)
    spec = FeatureSpec(name=name, source=source, features=features, label=label,
                       test_fraction=test_fraction, seed=seed)
    return check(spec)


def _feature(kind, column, name, **options) -> Feature:
    """Default names: the column for passthrough and onehot, ``column_kind`` for the other transforms."""
    if not isinstance(column, str) or not column:
        raise IvmError(f"a {kind} feature needs a column name")
    default = column if kind in ("passthrough", "onehot") else f"{column}_{kind}"
    return Feature(kind=kind, column=column, name=name or default, **options)


def _function_part(reference: str) -> str:
    return reference.rsplit(":", 1)[-1].rsplit(".", 1)[-1] or "udf"


# -- files ---------------------------------------------------------------------------------------------
def load(path: str | Path) -> FeatureSpec:
    """Read a YAML (or JSON, which YAML reads too) feature spec file; UDF file references are taken
    relative to the spec's folder."""
    import yaml

    if not isinstance(path, (str, os.PathLike)):
        raise IvmError(f"load_spec needs the path of a YAML or JSON file, not {path!r:.60}")
    path = Path(path)
    if not path.is_file():
        raise IvmError(f"{path} is a folder, not a feature spec file" if path.is_dir() else f"file {path} does not exist")
    try:
        data = yaml.safe_load(read_text(path, "feature spec"))
    except yaml.YAMLError as error:
        raise IvmError(f"cannot parse {path}: {str(error).splitlines()[0]}") from None
    return parse(data, base=path.parent)


def parse(data, base: Path | None = None) -> FeatureSpec:
    """A spec from the mapping a YAML/JSON file holds (see the module docstring)."""
    if not isinstance(data, dict):
        raise IvmError("a feature spec must be a mapping with name, from and features")
    unknown = set(data) - {"name", "from", "label", "split", "features"}
    if unknown:
        raise IvmError(f"unknown key {sorted(unknown)[0]!r} in the feature spec; expected name, from, label, "
                       "split, features")
    for key in ("name", "from", "features"):
        if key not in data:
            raise IvmError(f"the feature spec has no {key!r}")
    split = data.get("split") or {}
    if not isinstance(split, dict) or set(split) - {"test_fraction", "seed"}:
        raise IvmError("split must be a mapping with test_fraction and seed")
    entries = data["features"]
    if not isinstance(entries, list) or not entries:
        raise IvmError("features must be a non-empty list")
    features = tuple(_parse_feature(entry, base) for entry in entries)
    for key in ("name", "from", "label"):  # YAML reads [prep] as a list: no name, and no SQL expression
        if isinstance(data.get(key), (list, dict)):
            raise IvmError(f"{key} in the feature spec must be {'a SQL expression' if key == 'label' else 'a name'}, "
                           f"not a {'list' if isinstance(data[key], list) else 'mapping'} ({data[key]!r:.60})")
    label = data.get("label")
    if label is not None and not isinstance(label, str):
        label = str(label)
    spec = FeatureSpec(name=str(data["name"]), source=str(data["from"]), features=features, label=label,
                       test_fraction=split.get("test_fraction", 0.2), seed=split.get("seed", 0))
    return check(spec)


def _parse_feature(entry, base: Path | None) -> Feature:
    if isinstance(entry, str):
        return passthrough(entry)
    if not isinstance(entry, dict):
        raise IvmError(f"a feature must be a column name or a mapping, not {entry!r}")
    kinds = [k for k in entry if k in KINDS]
    if len(kinds) != 1:
        raise IvmError(f"feature {entry!r} must name exactly one of {', '.join(KINDS)}")
    kind = kinds[0]
    unknown = set(entry) - OPTIONS - {kind}
    if unknown:
        raise IvmError(f"unknown option {sorted(unknown)[0]!r} in feature {entry!r}")
    value = entry[kind]
    name = entry.get("name")
    if isinstance(name, (int, float)) and not isinstance(name, bool):  # name: 5 in YAML, as the set's own name
        name = str(name)
    if kind == "udf":
        if "column" not in entry:
            raise IvmError(f"udf feature {value!r} needs a column")
        return udf(_udf_reference(str(value), base), str(entry["column"]), dims=entry.get("dims", 0),
                   name=name, batch_size=entry.get("batch_size", DEFAULT_BATCH))
    if "column" in entry:
        raise IvmError(f"feature {entry!r}: the column is the value of {kind!r}; 'column' is for udf features")
    if kind == "bucket":
        return bucket(str(value), edges=entry.get("edges"), bins=entry.get("bins"), name=name)
    if kind == "hash":
        return hashed(str(value), dims=entry.get("dims", 0), name=name)
    extra = set(entry) & {"edges", "bins", "dims", "batch_size"}
    if extra:
        raise IvmError(f"option {sorted(extra)[0]!r} does not apply to a {kind} feature")
    return _feature(kind, str(value), name)


def _udf_reference(reference: str, base: Path | None) -> str:
    """``file.py:function`` relative to the spec's folder becomes absolute; ``module:function`` stays."""
    path, _, function = reference.rpartition(":")
    if path.endswith(".py") and base is not None and not Path(path).is_absolute():
        return f"{(base / path).resolve()}:{function}"
    return reference


# -- checks that need no database ----------------------------------------------------------------------
def check(spec: FeatureSpec) -> FeatureSpec:
    """Refuse specs that cannot mean anything, whatever the database; returns the normalised spec (NumPy
    numbers, which code computing a spec often holds, as Python's)."""
    if not isinstance(spec.name, str) or not _NAME.match(spec.name):
        raise IvmError(f"feature set name {spec.name!r} must be letters, digits and _ (not starting with a digit)")
    if spec.name.lower().startswith("__ivm"):
        raise IvmError(f"feature set name {spec.name!r} is reserved for ivm")
    if not isinstance(spec.source, str) or not spec.source:
        raise IvmError(f"feature set {spec.name}: 'from' must name a view, not {spec.source!r:.60}")
    if not spec.features:
        raise IvmError(f"feature set {spec.name} has no features")
    bad = next((f for f in spec.features if not isinstance(f, Feature)), None)
    if bad is not None:
        raise IvmError(f"feature set {spec.name}: a feature must be a column name or made by ml.passthrough, "
                       f"ml.standard, ... (not {type(bad).__name__} {bad!r:.60})")
    if spec.label is not None and not isinstance(spec.label, str):
        raise IvmError(f"feature set {spec.name}: the label must be SQL text, not {spec.label!r:.60}")
    fraction = spec.test_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction <= 1:
        raise IvmError(f"test_fraction must be a number between 0 and 1, not {fraction!r}")
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, numbers.Integral):
        raise IvmError(f"seed must be an integer, not {spec.seed!r}")
    names = [f.name for f in spec.features]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise IvmError(f"feature set {spec.name} names feature {duplicates[0]!r} twice; give one a name")
    for feature in spec.features:
        _check_feature(feature)
    features = tuple(replace(f, edges=tuple(int(e) if isinstance(e, numbers.Integral) else float(e) for e in f.edges),
                             bins=int(f.bins), dims=int(f.dims), batch_size=int(f.batch_size))
                     for f in spec.features)  # NumPy numbers as Python's, which the stored JSON can hold
    return replace(spec, name=spec.name.lower(), source=spec.source.lower(), test_fraction=float(fraction),
                   seed=int(spec.seed), features=features)


def _check_feature(feature: Feature) -> None:
    what = f"feature {feature.name!r}"
    if feature.kind not in KINDS:
        raise IvmError(f"{what}: unknown kind {feature.kind!r}; kinds: {', '.join(KINDS)}")
    if not isinstance(feature.name, str) or not feature.name or any(c in feature.name for c in '"\n'):
        raise IvmError(f"{what}: a name must be text, not empty, without quotes or line breaks")
    if feature.kind == "bucket":
        if bool(feature.edges) == bool(feature.bins):
            raise IvmError(f"{what}: a bucket feature needs either edges: [..] or bins: N")
        if feature.edges:
            if not all(isinstance(e, numbers.Real) and not isinstance(e, bool) and math.isfinite(e)
                       for e in feature.edges):
                raise IvmError(f"{what}: edges must be finite numbers")
            if list(feature.edges) != sorted(set(feature.edges)):
                raise IvmError(f"{what}: edges must be strictly increasing")
        if feature.bins and (not _positive_int(feature.bins) or feature.bins > 10_000):
            raise IvmError(f"{what}: bins must be an integer between 1 and 10000")
    if feature.kind == "hash" and (not _positive_int(feature.dims) or feature.dims > 4096):
        raise IvmError(f"{what}: a hash feature needs dims between 1 and 4096")
    if feature.kind == "udf":
        if feature.dims and (not _positive_int(feature.dims) or feature.dims > 65_536):
            raise IvmError(f"{what}: dims must be an integer between 1 and 65536 (or 0 for one value)")
        if not _positive_int(feature.batch_size):
            raise IvmError(f"{what}: batch_size must be a positive integer")
        if feature.function is None and ":" not in feature.udf:
            raise IvmError(f"{what}: udf must be 'file.py:function' or 'module:function', not {feature.udf!r}")
    elif feature.kind != "hash" and feature.dims:
        raise IvmError(f"{what}: dims applies to hash and udf features only")


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
