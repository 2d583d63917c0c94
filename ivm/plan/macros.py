"""Views that call macros created with ``CREATE MACRO`` in the user's database.

A macro's body is hidden behind its name: ``share(v)`` may be ``sum(v) / sum(sum(v)) OVER ()``, ``tot()`` may be
a subquery over a source, and a table macro may read any table. The planner would take each call for a plain
scalar function (or a constant relation) and maintain the view wrongly, so such a view is recomputed, and it
reads whatever the macros' bodies read, so that deleting from those tables reaches it.
"""
from __future__ import annotations

import functools
import re
from typing import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ivm.plan.build import referenced_relations
from ivm.errors import IvmError
from ivm.plan.parse import check_read_only, function_name
from ivm.sql import DIALECT


@functools.lru_cache(maxsize=256)
def _parsed(body: str) -> exp.Expression | None:
    """A macro's body as sqlglot reads it, once per text (deploy checks it and plans with it); None where
    sqlglot cannot (DuckDB stores ``[y * 2 FOR y IN l]`` as ``list_transform(l, (lambda y: (y * 2)))``)."""
    try:
        return sqlglot.parse_one(body, read=DIALECT)
    except SqlglotError:
        return None


def written_calls(text: str) -> set[str]:
    """The names written before a parenthesis in SQL ``text``, outside string literals, in lower case: what
    a text calls, as written (sqlglot renames some functions it knows, ``initcap`` among them).

    Example:
        >>> sorted(written_calls('''hash(a) % 2 = 0 AND "Rnd"(b) > 'f(x)' AND b IN (1, 2)'''))
        ['hash', 'in', 'rnd']
    """
    text = re.sub(r"'(?:[^']|'')*'", "''", text)
    quoted = re.findall(r'"((?:[^"]|"")+)"\s*\(', text)
    plain = re.findall(r"(?<![\w\"])([A-Za-z_][A-Za-z0-9_$]*)\s*\(", text)
    return {name.replace('""', '"').lower() for name in quoted} | {name.lower() for name in plain}


def _called(tree: exp.Expression, macros: Mapping[str, str]):
    """``(name, parsed body or None when sqlglot cannot read it)`` of each macro ``tree`` calls, directly or
    through other macros' bodies (an unreadable body through the names written in it), once each, in the
    order they are met."""
    seen: set[str] = set()
    todo = [tree]
    while todo:
        for node in todo.pop().walk():
            name = function_name(node)
            if name not in macros or name in seen:
                continue
            seen.add(name)
            body = _parsed(macros[name])
            if body is None:
                todo.append(exp.Tuple(expressions=[exp.Anonymous(this=n) for n in written_calls(macros[name])]))
            else:
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
        if body is None:  # the functions written in it, and the clock's keywords, which need no parentheses
            text = macros[name]
            body = exp.Tuple(expressions=[exp.Anonymous(this=n) for n in sorted(written_calls(text))]
                             + [exp.Anonymous(this=k) for k in CLOCK_KEYWORDS if re.search(rf"\b{k}\b", text, re.I)])
        check_read_only(body, f"{what} calls macro {name}, which", clock=clock)


# the clock read without parentheses (``day < current_date``)
CLOCK_KEYWORDS = ("current_date", "current_timestamp", "current_time", "localtime", "localtimestamp")


_BUILTINS: list[frozenset[str]] = []


def builtin_functions(con) -> frozenset[str]:
    """The names of DuckDB's own functions, read once per process through ``con`` (~20 ms:
    ``duckdb_functions()`` lists them all). A deletion predicate whose written calls (:func:`written_calls`)
    are all among these needs no look at the database's macros, which costs as much on every deletion
    (``hash(oid) % 1000 = 3`` is a common predicate). A macro that shadows a built-in name (DuckDB allows
    ``CREATE MACRO lower(x) ...``) is not looked for in predicates; views are checked against every macro."""
    if not _BUILTINS:
        _BUILTINS.append(frozenset(row[0].lower() for row in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE internal").fetchall()))
    return _BUILTINS[0]


# words SQL writes before a parenthesis that are no function calls, or name no function DuckDB lists: a
# predicate using them needs no look at the macros either (one that is a macro's name costs the look only)
SQL_CALL_KEYWORDS = frozenset({"in", "exists", "and", "or", "not", "any", "all", "some", "cast", "try_cast",
                               "extract", "coalesce", "values", "between", "like", "ilike", "is", "over", "filter",
                               "as", "from", "where", "on", "when", "then", "else", "select", "interval", "array",
                               "row", "struct", "map", "list", "decimal", "numeric", "varchar"})
