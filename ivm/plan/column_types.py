"""The column types DuckDB gives a stage's query, asked of DuckDB itself on empty copies of its inputs.

The planner needs the type of a computed column in one place: SUM and AVG are maintained by subtraction
only over exact numbers. sqlglot's type inference does not know DuckDB's rules everywhere (``day -
LAG(day)`` of two DATEs is a BIGINT number of days, a SUM of DECIMAL(10, 2) a DECIMAL(38, 2)), and an
unknown type means "recompute the touched groups", which is right but slow. DuckDB binds the query over
empty tables in a scratch in-memory database: the user's database is never touched, and any failure just
leaves the types unknown.
"""
from __future__ import annotations

import functools
import threading
from typing import Mapping

import duckdb
from sqlglot import exp

from ivm.sql import DIALECT, INTERNAL_SCHEMA, ident

Schema = Mapping[str, Mapping[str, str]]


_LOCK = threading.Lock()


def column_type(schema: Schema, relation: str, name: str) -> str:
    """The type of column ``name`` of ``relation``, UNKNOWN if not known. The qualified query spells names
    in lower case (DuckDB's names are case-insensitive) while the schema keeps the stored spelling
    (``AdvEngineID``): matched without case, else SUM over such a column was not known to be exact."""
    columns = schema.get(relation, {})
    if name in columns:
        return columns[name]
    folded = name.lower()
    return next((typ for column, typ in columns.items() if column.lower() == folded), "UNKNOWN")


@functools.lru_cache(maxsize=1)
def _scratch() -> duckdb.DuckDBPyConnection:
    """One in-memory database for the whole process (opening one costs tens of milliseconds)."""
    return duckdb.connect(":memory:")


def duckdb_types(query: exp.Query, schema: Schema) -> dict[str, str] | None:
    """Output name -> DuckDB type of ``query``, which reads ivm's internal tables (``_ivm.<relation>``) of
    relations in ``schema``; None if DuckDB cannot bind it there.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one("SELECT d - LAG(d) OVER (ORDER BY d) AS gap, SUM(x) OVER () AS s FROM _ivm.t")
        >>> duckdb_types(q, {"t": {"d": "DATE", "x": "DECIMAL(10,2)"}})
        {'gap': 'BIGINT', 's': 'DECIMAL(38,2)'}
    """
    reads = {t.name.lower() for t in query.find_all(exp.Table) if t.text("db").lower() == INTERNAL_SCHEMA}
    if not reads <= set(schema):
        return None
    try:
        with _LOCK, _scratch().cursor() as scratch:  # one plan at a time: each creates schema _ivm
            scratch.begin()  # rolled back below: the scratch database stays empty
            try:
                scratch.execute(f"CREATE SCHEMA {INTERNAL_SCHEMA}")
                for relation in sorted(reads):
                    columns = ", ".join(f"{ident(c).sql(dialect=DIALECT)} {typ}"
                                        for c, typ in schema[relation].items() if typ != "UNKNOWN")
                    table = exp.Table(this=ident(relation), db=ident(INTERNAL_SCHEMA)).sql(dialect=DIALECT)
                    scratch.execute(f"CREATE TABLE {table} ({columns or '__none INTEGER'})")
                described = scratch.execute(f"DESCRIBE {query.sql(dialect=DIALECT)}").fetchall()
                return with_collations(scratch, f"({query.sql(dialect=DIALECT)})",
                                       {name: typ for name, typ, *_ in described})
            finally:
                scratch.rollback()
    except duckdb.Error:
        return None


def bound_columns(query: exp.Query, schema: Schema) -> list[tuple[str, str]] | None:
    """(name, type) of each output column of ``query``, a query over the user's relations (unqualified names in
    ``schema``), as DuckDB binds it over empty tables of those names; None if it cannot bind it there (a macro,
    a Python UDF, a column of unknown type).

    Example:
        >>> import sqlglot
        >>> bound_columns(sqlglot.parse_one("SELECT k, SUM(v) AS s FROM t GROUP BY k"), {"t": {"k": "INT", "v": "INT"}})
        [('k', 'INTEGER'), ('s', 'HUGEINT')]
    """
    reads = {t.name.lower() for t in query.find_all(exp.Table) if not t.text("db") and t.name.lower() in schema}
    if any(typ == "UNKNOWN" for relation in reads for typ in schema[relation].values()):
        return None
    try:
        with _LOCK, _scratch().cursor() as scratch:
            scratch.begin()  # rolled back below: the scratch database stays empty
            try:
                for relation in sorted(reads):
                    columns = ", ".join(f"{ident(c).sql(dialect=DIALECT)} {typ}" for c, typ in schema[relation].items())
                    scratch.execute(f"CREATE TABLE {ident(relation).sql(dialect=DIALECT)} ({columns})")
                return [(name, typ) for name, typ, *_ in
                        scratch.execute(f"DESCRIBE {query.sql(dialect=DIALECT)}").fetchall()]
            finally:
                scratch.rollback()
    except duckdb.Error:
        return None


# Pairs of strings that differ only in case / in an accent / in Unicode normal form: a column whose collation
# makes a pair equal compares (GROUP BY, DISTINCT, set operations, MIN/MAX) differently from its bytes.
_COLLATION_PROBES = (("NOCASE", "a", "A"), ("NOACCENT", "e", "\u00e9"), ("NFC", "\u00e9", "e\u0301"))


def with_collations(con, relation: str, types: dict[str, str]) -> dict[str, str]:
    """``types`` of ``relation`` (a table name or a parenthesised query) with the collation of its text
    columns: DuckDB keeps a collation (``s COLLATE NOCASE AS s``) with a column but DESCRIBE and
    information_schema show plain VARCHAR, so a view reading it would not know that 'x' and 'X' are one
    group. The collation is found by behaviour: a UNION compares by the collation of its column, so it merges
    the probe pairs the collation makes equal. A collated column reads as ``VARCHAR COLLATE NOCASE`` (or
    NOACCENT, NFC, joined with dots), a type DuckDB accepts back.
    """
    text = [c for c, typ in types.items() if typ == "VARCHAR"]
    if not text:
        return types
    probes = []
    for name in text:
        quoted = ident(name).sql(dialect=DIALECT)
        for _, left, right in _COLLATION_PROBES:
            probes.append(f"(SELECT count(*) FROM (SELECT {quoted} FROM {relation} AS __r WHERE false "
                          f"UNION SELECT * FROM (VALUES ('{left}'), ('{right}'))))")
    try:
        counts = iter(con.execute("SELECT " + ", ".join(probes)).fetchall()[0])
    except duckdb.Error:  # e.g. two output columns of one name: their types stay as DESCRIBE gives them
        return types
    collated = dict(types)
    for name in text:
        merged = [collation for collation, *_ in _COLLATION_PROBES if next(counts) == 1]
        if merged:
            collated[name] = "VARCHAR COLLATE " + ".".join(merged)
    return collated
