"""ivm's own bookkeeping inside the database file: which tables are sources, which views are deployed.

The view SQL is the truth: plans are rebuilt from it, or read from :mod:`ivm.store.plan_cache` where
nothing they depend on has changed, and every table stays readable by any DuckDB client.
"""
from __future__ import annotations

import functools

import duckdb

from ivm.errors import IvmError
from ivm.plan.column_types import with_collations
from ivm.sql import INTERNAL_SCHEMA, RID

SOURCES = f'"{INTERNAL_SCHEMA}"."__sources"'
VIEWS = f'"{INTERNAL_SCHEMA}"."__views"'

SETUP = [
    f'CREATE SCHEMA IF NOT EXISTS "{INTERNAL_SCHEMA}"',
    f"CREATE TABLE IF NOT EXISTS {SOURCES} (name VARCHAR PRIMARY KEY, origin VARCHAR, loaded_at TIMESTAMP)",
    f"CREATE TABLE IF NOT EXISTS {VIEWS} (name VARCHAR PRIMARY KEY, position INTEGER, sql VARCHAR, "
    "deployed_at TIMESTAMP, fallback VARCHAR)",
]


def ensure(con) -> None:
    for statement in SETUP:
        con.execute(statement)


def present(con) -> bool:
    """Whether ivm's bookkeeping exists in the database (without creating it)."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            f"AND schema_name = '{INTERNAL_SCHEMA}' AND table_name = '__sources'").fetchall()[0][0])


def sources(con) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT name FROM {SOURCES} ORDER BY name").fetchall()]


def views(con) -> list[tuple[str, str, str | None]]:
    """(name, sql, fallback reason or None) of every deployed view in deployment order. Each text is checked
    to be one query: ivm runs it (a view it cannot plan reads it verbatim, verify recomputes from it), so a
    text changed outside ivm must not smuggle in a second statement."""
    found = con.execute(f"SELECT name, sql, fallback FROM {VIEWS} ORDER BY position").fetchall()
    for name, sql, _ in found:
        if not _one_query(sql):
            raise IvmError(f"the definition of view {name} stored in {VIEWS} is not one query: the file was "
                           "changed outside ivm, and ivm will not run it; use a copy of the file from before")
    return found


@functools.lru_cache(maxsize=4096)
def _one_query(sql: str | None) -> bool:
    if not isinstance(sql, str):
        return False
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return False
    return len(statements) == 1 and statements[0].type == duckdb.StatementType.SELECT


def columns(con, relation: str) -> dict[str, str]:
    """User-visible columns and types of a source or view (the row id left out)."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [INTERNAL_SCHEMA, relation]).fetchall()
    return {name: typ for name, typ in rows if not name.startswith("__ivm_")}


def collated_columns(con, relation: str) -> dict[str, str]:
    """:func:`columns` with the collation of text columns, which DESCRIBE and information_schema do not show
    (``VARCHAR COLLATE NOCASE``; see :func:`ivm.plan.column_types.with_collations`)."""
    return with_collations(con, f'"{INTERNAL_SCHEMA}"."{relation}"', columns(con, relation))


def add_source(con, name: str, origin: str) -> None:
    con.execute(f"INSERT INTO {SOURCES} VALUES (?, ?, now())", [name, origin])


def add_view(con, name: str, sql: str, fallback: str | None = None) -> None:
    position = con.execute(f"SELECT COALESCE(MAX(position), 0) + 1 FROM {VIEWS}").fetchall()[0][0]
    con.execute(f"INSERT INTO {VIEWS} VALUES (?, ?, ?, now(), ?)", [name, position, sql, fallback])


def remove_view(con, name: str) -> None:
    con.execute(f"DELETE FROM {VIEWS} WHERE name = ?", [name])


__all__ = ["RID", "ensure", "sources", "views", "columns", "collated_columns", "add_source", "add_view", "remove_view"]
