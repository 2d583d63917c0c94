"""Per-feature statistics of a feature set, kept by subtraction when rows leave, and the numbers X reads.

The feature set's row table (:mod:`ivm.ml.features`) keeps, per row, a copy of the prep columns that
statistics read (``v{i}``) and that one-hot features read (``k{k}``). A deletion reads the rows that leave
(index probes on their lineage) and updates:

* ``_ivm.__ml_<set>_stats``, one row. Integer, boolean and decimal columns: COUNT, SUM and SUM of squares of
  the value as an exact HUGEINT (decimals, of up to 9 places, scaled by 10^scale first), from which the
  deleted rows' part is subtracted, with no rounding: the statistics equal a recompute bit for bit.
  DOUBLE/FLOAT columns, and decimals with more places (whose scaled squares would not fit a HUGEINT): COUNT,
  AVG and STDDEV_POP, recomputed from the row table's column (a scan of one column: floating-point sums
  cannot be subtracted without drifting from a recompute). MIN and MAX: kept until a deleted row held one,
  then recomputed from the row table's column.
* ``_ivm.__ml_<set>_cat<k>``: ``(value, n)`` per one-hot column; the deleted rows' counts are subtracted and
  a category whose count reaches 0 disappears, and with it its column of X.

Mean and standard deviation are derived at export time by one SQL expression that the incremental path and a
full rerun share. The standard deviation is the population one (ddof = 0, as scikit-learn's
StandardScaler); 0 is replaced by 1 (the column is only centred).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ivm.errors import IvmError
from ivm.ml.spec import FeatureSpec
from ivm.sql import INTERNAL_SCHEMA

INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "BOOLEAN", "INT", "INT1", "INT2", "INT4", "INT8", "INT128", "LONG",
                 "SHORT", "BOOL"}
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8"}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
MAX_EXACT_SCALE = 9


@dataclass(frozen=True)
class Numeric:
    """How a column's statistics are kept: ``exact`` (scaled by 10^scale into HUGEINT) or floating point."""

    exact: bool
    scale: int = 0


def numeric(duckdb_type: str) -> Numeric | None:
    """The statistics class of a DuckDB type, or None if it is not a number.

    Example:
        >>> numeric("DECIMAL(10,2)"), numeric("DOUBLE"), numeric("VARCHAR"), numeric("DECIMAL(38,20)")
        (Numeric(exact=True, scale=2), Numeric(exact=False, scale=0), None, Numeric(exact=False, scale=0))
    """
    kind = duckdb_type.upper().strip()
    if kind in INTEGER_TYPES:
        return Numeric(True)
    if kind in FLOAT_TYPES:
        return Numeric(False)
    match = _DECIMAL.match(kind)
    if match:
        scale = int(match.group(2))
        # a scaled square must fit a HUGEINT (1.7e38): with more than 9 decimals even small values would not
        # (1.12 as DECIMAL(38,20) scales to 1.12e20), so those columns get floating-point statistics
        return Numeric(True, scale) if scale <= MAX_EXACT_SCALE else Numeric(False)
    return None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    """Statistics of prep column ``name``, copied into the row table as ``v{index}``."""

    name: str
    index: int
    type: str
    kind: Numeric
    moments: bool   # mean and std (standard scaling)
    range: bool     # min and max (min-max scaling, equal-width bins)

    @property
    def slot(self) -> str:
        return f"v{self.index}"


@dataclass(frozen=True)
class Plan:
    """What a feature set keeps: statistics columns and category tables, and how X reads them."""

    set_name: str
    columns: tuple[Column, ...]
    categories: tuple[tuple[str, str, str], ...]   # (prep column, slot k{k} in the row table, its type)

    @property
    def table(self) -> str:
        return f'"{INTERNAL_SCHEMA}"."__ml_{self.set_name}_stats"'

    def category_table(self, k: int) -> str:
        return f'"{INTERNAL_SCHEMA}"."__ml_{self.set_name}_cat{k}"'

    def category_index(self, column: str) -> int:
        return [c for c, _, _ in self.categories].index(column)

    def stat_index(self, column: str) -> int:
        return next(c.index for c in self.columns if c.name == column)

    # -- DDL ---------------------------------------------------------------------------------------------
    def row_columns(self) -> list[str]:
        """Column definitions the row table needs for the statistics and categories."""
        return [f'"{c.slot}" {c.type}' for c in self.columns] + [f'"{slot}" {t}' for _, slot, t in self.categories]

    def create(self) -> list[str]:
        statements = []
        if self.columns:
            parts = []
            for c in self.columns:
                parts.append(f'"c{c.index}_n" BIGINT')
                if c.moments and c.kind.exact:
                    parts += [f'"c{c.index}_s1" HUGEINT', f'"c{c.index}_s2" HUGEINT']
                elif c.moments:
                    parts += [f'"c{c.index}_mean" DOUBLE', f'"c{c.index}_sd" DOUBLE']
                if c.range:
                    parts += [f'"c{c.index}_lo" {c.type}', f'"c{c.index}_hi" {c.type}']
            statements.append(f"CREATE TABLE {self.table} ({', '.join(parts)})")
        for k, (_, _, kind) in enumerate(self.categories):
            statements.append(f"CREATE TABLE {self.category_table(k)} (value {kind}, n BIGINT)")
        return statements

    def drop(self) -> list[str]:
        return [f"DROP TABLE IF EXISTS {self.table}"] + \
            [f"DROP TABLE IF EXISTS {self.category_table(k)}" for k in range(len(self.categories))]

    # -- aggregates --------------------------------------------------------------------------------------
    def _aggregates(self, c: Column, moments: bool = True, range_: bool = True) -> list[str]:
        v, i = f'"{c.slot}"', c.index
        parts = [f'COUNT({v}) AS "c{i}_n"']
        if c.moments and moments and c.kind.exact:
            value = f"CAST({v} AS HUGEINT)" if c.kind.scale == 0 else f"CAST({v} * {10 ** c.kind.scale} AS HUGEINT)"
            parts += [f'COALESCE(SUM({value}), 0) AS "c{i}_s1"', f'COALESCE(SUM({value} * {value}), 0) AS "c{i}_s2"']
        elif c.moments and moments:
            parts += [f'AVG({v}) AS "c{i}_mean"', f'STDDEV_POP({v}) AS "c{i}_sd"']
        if c.range and range_:
            parts += [f'MIN({v}) AS "c{i}_lo"', f'MAX({v}) AS "c{i}_hi"']
        return parts

    def rebuild(self, rows: str) -> list[str]:
        """Statements computing every statistic from scratch from row table ``rows``."""
        statements = []
        if self.columns:
            select = [part for c in self.columns for part in self._aggregates(c)]
            statements += [f"DELETE FROM {self.table}", f"INSERT INTO {self.table} SELECT {', '.join(select)} FROM {rows}"]
        for k, (_, slot, _) in enumerate(self.categories):
            statements += [f"DELETE FROM {self.category_table(k)}",
                           f'INSERT INTO {self.category_table(k)} SELECT "{slot}", COUNT(*) FROM {rows} '
                           f'WHERE "{slot}" IS NOT NULL GROUP BY "{slot}"']
        return statements

    def delta_select(self) -> list[str]:
        """Aggregates over the leaving rows (one statement with the deletion's lineage filter): their part of
        every exact sum, and whether they held a current minimum or maximum. That comparison is DuckDB's, where
        NaN equals NaN and sorts above every number (in Python a NaN maximum would never look held)."""
        parts = []
        for c in self.columns:
            parts.append(f'COUNT("{c.slot}")')
            if c.moments and c.kind.exact:
                parts += self._aggregates(c, range_=False)[1:]
            if c.range:
                parts.append(f'COALESCE(MIN("{c.slot}") <= (SELECT "c{c.index}_lo" FROM {self.table}) OR '
                             f'MAX("{c.slot}") >= (SELECT "c{c.index}_hi" FROM {self.table}), false)')
        return [p.rsplit(" AS ", 1)[0] if " AS " in p and not p.startswith("(") else p for p in parts]

    def leave(self, rows: str, hit: str) -> list[str]:
        """Statements taking the leaving rows (``hit``, still in ``rows``: run them before the DELETE) out of
        the category counts. The counts are grouped by DuckDB, whose equality holds every NaN as one category
        (and -0.0 as 0.0), as the rebuild's GROUP BY does; a category whose count reaches 0 goes."""
        statements = []
        for k, (_, slot, _) in enumerate(self.categories):
            target = self.category_table(k)
            statements += [f'UPDATE {target} SET n = {target}.n - d.n FROM (SELECT "{slot}" AS value, COUNT(*) AS n '
                           f'FROM {rows} WHERE ({hit}) AND "{slot}" IS NOT NULL GROUP BY "{slot}") AS d '
                           f'WHERE {target}.value = d.value',
                           f"DELETE FROM {target} WHERE n <= 0"]
        return statements

    def subtract(self, values: list, rows: str) -> list[tuple[str, list]]:
        """Statements (with parameters) taking the leaving rows out of the statistics table, given ``values``
        of :meth:`delta_select`; run after the rows left ``rows``. Exact sums are subtracted; floating-point
        moments, and a minimum or maximum that a leaving row held, are computed again from ``rows``."""
        values = iter(values)
        statements, sets, params, again = [], [], [], []
        for c in self.columns:
            i = c.index
            sets.append(f'"c{i}_n" = "c{i}_n" - ?')
            params.append(int(next(values)))
            if c.moments and c.kind.exact:
                for m in ("s1", "s2"):
                    sets.append(f'"c{i}_{m}" = "c{i}_{m}" - CAST(? AS HUGEINT)')
                    params.append(str(int(next(values) or 0)))
            elif c.moments:
                again += self._aggregates(c, range_=False)[1:]
            if c.range and next(values):
                again += self._aggregates(c, moments=False)[1:]
        if sets:
            statements.append((f"UPDATE {self.table} SET {', '.join(sets)}", params))
        if again:
            names = [p.rsplit(" AS ", 1)[1] for p in again]
            statements.append((f"UPDATE {self.table} SET {', '.join(f'{n} = r.{n}' for n in names)} "
                               f"FROM (SELECT {', '.join(again)} FROM {rows}) AS r", []))
        return statements

    # -- what X reads --------------------------------------------------------------------------------------
    def derived(self) -> str | None:
        """``SELECT m{i}, sd{i}, lo{i}, hi{i} ...`` (one row) from the statistics table, or None."""
        if not self.columns:
            return None
        s, out = '"__s"', []
        for c in self.columns:
            i = c.index
            if c.moments and c.kind.exact:
                unit = f'CAST({s}."c{i}_n" AS DOUBLE)' + (f" * 1e{c.kind.scale}" if c.kind.scale else "")
                sd = (f'sqrt(CAST(CAST({s}."c{i}_n" AS HUGEINT) * {s}."c{i}_s2" - {s}."c{i}_s1" * {s}."c{i}_s1" '
                      f'AS DOUBLE)) / ({unit})')
                out += [f'CAST({s}."c{i}_s1" AS DOUBLE) / ({unit}) AS "m{i}"',
                        f'CASE WHEN {sd} = 0 THEN 1.0 ELSE {sd} END AS "sd{i}"']
            elif c.moments:
                out += [f'CAST({s}."c{i}_mean" AS DOUBLE) AS "m{i}"',
                        f'CASE WHEN {s}."c{i}_sd" = 0 THEN 1.0 ELSE CAST({s}."c{i}_sd" AS DOUBLE) END AS "sd{i}"']
            if c.range:
                out += [f'CAST({s}."c{i}_lo" AS DOUBLE) AS "lo{i}"', f'CAST({s}."c{i}_hi" AS DOUBLE) AS "hi{i}"']
        return f"SELECT {', '.join(out)} FROM {self.table} AS {s}"


def plan(spec: FeatureSpec, types: dict[str, str]) -> Plan:
    needs: dict[str, set[str]] = {}
    onehot: list[str] = []
    for feature in spec.features:
        if feature.kind == "standard":
            needs.setdefault(feature.column, set()).add("moments")
        elif feature.kind == "minmax" or (feature.kind == "bucket" and feature.bins):
            needs.setdefault(feature.column, set()).add("range")
        elif feature.kind == "onehot" and feature.column not in onehot:
            onehot.append(feature.column)
    columns = []
    for i, (name, wants) in enumerate(needs.items()):
        kind = numeric(types[name])
        if kind is None:
            raise IvmError(f"column {name} ({types[name]}) is not a number")
        columns.append(Column(name=name, index=i, type=types[name], kind=kind, moments="moments" in wants,
                              range="range" in wants))
    categories = tuple((name, f"k{k}", types[name]) for k, name in enumerate(onehot))
    return Plan(set_name=spec.name, columns=tuple(columns), categories=categories)
