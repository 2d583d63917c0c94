"""Per-feature statistics as ordinary ivm views over the prep view, and the numbers X reads from them.

Statistics are deployed through the engine like any view, so a deletion maintains them in the same
transaction, by subtraction where that is exact:

* ``<set>__stats``: integer, boolean and decimal columns. COUNT, SUM and SUM of squares over the value as an
  exact HUGEINT (decimals scaled by 10^scale first), MIN and MAX: every aggregate is subtracted on deletion,
  with no rounding, so the statistics equal a recompute bit for bit.
* ``<set>__fstats``: DOUBLE/FLOAT columns. COUNT, AVG, STDDEV_POP, MIN, MAX: floating-point sums cannot be
  subtracted without drifting, so the engine recomputes this one-row aggregate from its input on each
  deletion (a scan of one column) with DuckDB's numerically stable aggregates.
* ``<set>__cat<k>``: ``SELECT c AS value, COUNT(*) AS n ... GROUP BY c`` per one-hot column; a category whose
  count reaches 0 disappears, and so does its column of X.

Mean and standard deviation are derived from these at export time by one SQL expression that the
incremental path and a full rerun share, so both give the same bits for exact columns. The standard
deviation is the population one (ddof = 0), as scikit-learn's StandardScaler; 0 is replaced by 1 (the
column is only centred).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ivm.errors import IvmError
from ivm.ml.spec import FeatureSpec

INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "BOOLEAN", "INT", "INT1", "INT2", "INT4", "INT8", "INT128", "LONG",
                 "SHORT", "BOOL"}
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8"}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


@dataclass(frozen=True)
class Numeric:
    """How a column's statistics are kept: ``exact`` (scaled by 10^scale into HUGEINT) or floating point."""

    exact: bool
    scale: int = 0


def numeric(duckdb_type: str) -> Numeric | None:
    """The statistics class of a DuckDB type, or None if it is not a number.

    Example:
        >>> numeric("DECIMAL(10,2)"), numeric("DOUBLE"), numeric("VARCHAR")
        (Numeric(exact=True, scale=2), Numeric(exact=False, scale=0), None)
    """
    kind = duckdb_type.upper().strip()
    if kind in INTEGER_TYPES:
        return Numeric(True)
    if kind in FLOAT_TYPES:
        return Numeric(False)
    match = _DECIMAL.match(kind)
    if match:
        return Numeric(True, int(match.group(2)))
    return None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Plan:
    """The statistics views of one feature set, and where X finds each column's numbers."""

    views: dict[str, str]                 # view name -> CREATE VIEW statement
    columns: dict[str, int]               # prep column -> statistics index i (mean m{i}, std sd{i}, lo{i}, hi{i})
    categories: dict[str, str]            # prep column -> its category view
    derived: str | None                   # SELECT m0, sd0, lo0, hi0, ... FROM the statistics views (one row)


def plan(spec: FeatureSpec, types: dict[str, str]) -> Plan:
    needed: dict[str, set[str]] = {}
    onehot: list[str] = []
    for feature in spec.features:
        if feature.kind == "standard":
            needed.setdefault(feature.column, set()).update({"moments", "range"})
        elif feature.kind == "minmax" or (feature.kind == "bucket" and feature.bins):
            needed.setdefault(feature.column, set()).add("range")
        elif feature.kind == "onehot" and feature.column not in onehot:
            onehot.append(feature.column)
    exact_parts, float_parts, derived, columns = [], [], [], {}
    for i, (name, wants) in enumerate(needed.items()):
        columns[name] = i
        kind = numeric(types[name])
        x = quote(name)
        if kind is None:
            raise IvmError(f"column {name} ({types[name]}) is not a number")
        if kind.exact:
            value = f"CAST({x} AS HUGEINT)" if kind.scale == 0 else f"CAST({x} * {10 ** kind.scale} AS HUGEINT)"
            exact_parts.append(f'COUNT({x}) AS "c{i}_n"')
            if "moments" in wants:
                exact_parts += [f'SUM({value}) AS "c{i}_s1"', f'SUM({value} * {value}) AS "c{i}_s2"']
            exact_parts += [f'MIN({x}) AS "c{i}_lo"', f'MAX({x}) AS "c{i}_hi"']
            s = '"__s"'
            if "moments" in wants:
                unit = f'CAST({s}."c{i}_n" AS DOUBLE)' + (f" * 1e{kind.scale}" if kind.scale else "")
                sd = (f'sqrt(CAST(CAST({s}."c{i}_n" AS HUGEINT) * {s}."c{i}_s2" - {s}."c{i}_s1" * {s}."c{i}_s1" '
                      f'AS DOUBLE)) / ({unit})')
                derived += [f'CAST({s}."c{i}_s1" AS DOUBLE) / ({unit}) AS "m{i}"',
                            f'CASE WHEN {sd} = 0 THEN 1.0 ELSE {sd} END AS "sd{i}"']
            derived += [f'CAST({s}."c{i}_lo" AS DOUBLE) AS "lo{i}"', f'CAST({s}."c{i}_hi" AS DOUBLE) AS "hi{i}"']
        else:
            float_parts += [f'COUNT({x}) AS "c{i}_n"', f'AVG({x}) AS "c{i}_mean"', f'STDDEV_POP({x}) AS "c{i}_sd"',
                            f'MIN({x}) AS "c{i}_lo"', f'MAX({x}) AS "c{i}_hi"']
            f = '"__f"'
            derived += [f'CAST({f}."c{i}_mean" AS DOUBLE) AS "m{i}"',
                        f'CASE WHEN {f}."c{i}_sd" = 0 THEN 1.0 ELSE CAST({f}."c{i}_sd" AS DOUBLE) END AS "sd{i}"',
                        f'CAST({f}."c{i}_lo" AS DOUBLE) AS "lo{i}"', f'CAST({f}."c{i}_hi" AS DOUBLE) AS "hi{i}"']
    views, sources = {}, []
    prep = quote(spec.source)
    if exact_parts:
        views[f"{spec.name}__stats"] = f"SELECT {', '.join(exact_parts)} FROM {prep}"
        sources.append(f'main."{spec.name}__stats" AS "__s"')
    if float_parts:
        views[f"{spec.name}__fstats"] = f"SELECT {', '.join(float_parts)} FROM {prep}"
        sources.append(f'main."{spec.name}__fstats" AS "__f"')
    categories = {}
    for k, name in enumerate(onehot):
        view = f"{spec.name}__cat{k}"
        views[view] = f"SELECT {quote(name)} AS value, COUNT(*) AS n FROM {prep} WHERE {quote(name)} IS NOT NULL " \
                      f"GROUP BY {quote(name)}"
        categories[name] = view
    statements = {name: f'CREATE VIEW "{name}" AS {sql}' for name, sql in views.items()}
    query = f"SELECT {', '.join(derived)} FROM {' CROSS JOIN '.join(sources)}" if derived else None
    return Plan(views=statements, columns=columns, categories=categories, derived=query)
