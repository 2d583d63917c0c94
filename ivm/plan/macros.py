"""Views that call macros created with ``CREATE MACRO`` in the user's database.

A macro's body is hidden behind its name: ``share(v)`` may be ``sum(v) / sum(sum(v)) OVER ()``, ``tot()`` may be
a subquery over a source, and a table macro may read any table. The planner would take each call for a plain
scalar function (or a constant relation) and maintain the view wrongly, so such a view is recomputed, and it
reads whatever the macros' bodies read, so that deleting from those tables reaches it.
"""
from __future__ import annotations

from typing import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ivm.plan.build import referenced_relations
from ivm.errors import IvmError
from ivm.plan.parse import check_read_only, function_name
from ivm.sql import DIALECT


def _called(tree: exp.Expression, macros: Mapping[str, str]):
    """``(name, parsed body or None when sqlglot cannot read it)`` of each macro ``tree`` calls, directly or
    through other macros' bodies, once each, in the order they are met."""
    seen: set[str] = set()
    todo = [tree]
    while todo:
        for node in todo.pop().walk():
            name = function_name(node)
            if name not in macros or name in seen:
                continue
            seen.add(name)
            try:
                body = sqlglot.parse_one(macros[name], read=DIALECT)
            except SqlglotError:
                yield name, None
                continue
            todo.append(body)
            yield name, body


def macros_called(query: exp.Expression, macros: Mapping[str, str],
                  relations: Mapping[str, object]) -> tuple[str, list[str]] | None:
    """``(the first macro called, relations of ``relations`` the macros read)`` or None if ``query`` calls none.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one("SELECT g, share(x) FROM big(3) GROUP BY g", read="duckdb")
        >>> macros_called(q, {"share": "sum(v) / sum(sum(v)) OVER ()", "big": "SELECT * FROM t WHERE x > th"},
        ...               {"t": {}, "u": {}})
        ('share', ['t'])
    """
    first, reads = None, set()
    for name, body in _called(query, macros):
        first = first or name
        if body is None:
            return first, sorted(relations)  # an unreadable body may read anything
        if isinstance(body, exp.Query) or body.find(exp.Query):
            reads |= referenced_relations(body if isinstance(body, exp.Query) else exp.select(body))
    if first is None:
        return None
    return first, sorted(name for name in relations if name in reads)


def check_macros_read_only(tree: exp.Expression, macros: Mapping[str, str], what: str, *, clock: bool = False) -> None:
    """Hold the bodies of the macros ``tree`` calls, and of the macros they call, to the rules the text itself
    is held to (:func:`ivm.plan.parse.check_read_only`): ``rnd(x)`` defined as ``x + random()`` is as
    non-deterministic as ``random()`` written out, and a table macro over ``read_csv(..)`` reads a file.

    Example:
        >>> import sqlglot
        >>> check_macros_read_only(sqlglot.parse_one("SELECT rnd(1)", read="duckdb"), {"rnd": "x + random()"}, "view v")
        Traceback (most recent call last):
        ivm.errors.IvmError: view v calls macro rnd, which uses the non-deterministic function RANDOM(); ivm needs the same result on every run
    """
    for name, body in _called(tree, macros):
        if body is None:
            raise IvmError(f"{what} calls macro {name}, whose body ivm cannot read; it cannot tell whether "
                           "the macro only reads data")
        check_read_only(body, f"{what} calls macro {name}, which", clock=clock)


_BUILTINS: list[frozenset[str]] = []


def builtin_functions(con) -> frozenset[str]:
    """The names of DuckDB's own functions, read once per process through ``con`` (~20 ms:
    ``duckdb_functions()`` lists them all). A deletion predicate calling only these needs no look at the
    database's macros, which costs as much on every deletion (``hash(oid) % 1000 = 3`` is a common predicate;
    a macro shadowing a built-in name is not looked for there)."""
    if not _BUILTINS:
        _BUILTINS.append(frozenset(row[0].lower() for row in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE internal").fetchall()))
    return _BUILTINS[0]
