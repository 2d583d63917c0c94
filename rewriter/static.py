"""Static checks of an answer, before any of it runs.

1. Every statement parses as DuckDB SQL and is ``CREATE VIEW name AS SELECT ...``; nothing writes, reads
   files or the network, or is non-deterministic (``ivm.plan.parse.parse_views`` refuses those).
2. View names are new (not a source), the result view is one of them, and views read only the sources and
   views defined before them.
3. Every table and column resolves (sqlglot's ``qualify`` against the sources' DuckDB schemas).
4. Every function is a DuckDB function or a UDF the answer names, and every UDF is a top-level function of
   the user's script with a usable signature (:mod:`rewriter.udfs`).
5. Nothing depends on the order DuckDB reads rows in (``parse_views`` refuses it, with
   :func:`ivm.plan.order.order_dependence`): a ``row_number()``, ``lag``
   or ``first_value`` window without ORDER BY, ``first``/``last``/``any_value`` aggregates, ``list`` or
   ``string_agg`` without ORDER BY inside, LIMIT / OFFSET or DISTINCT ON without ORDER BY. On a small file
   DuckDB happens to read in file order, so such a view matches the script on every variant, and on a large
   file (read by several threads) it picks other rows.

The result is a :class:`Candidate`: the views rendered once into the exact text that is run, verified and
written to ``views.sql``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import duckdb
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from ivm.errors import IvmError
from ivm.plan.build import referenced_relations
from ivm.plan.parse import ViewDefinition, parse_views
from rewriter.answer import Answer
from rewriter.errors import Problem, first_line
from rewriter.script import Script
from rewriter.sources import Source
from rewriter.udfs import UdfProblem, UdfSignature, module_text, signatures

DIALECT = "duckdb"


@dataclass(frozen=True)
class Candidate:
    """A statically checked answer: views in dependency order, UDF signatures and the generated files."""

    views: tuple[ViewDefinition, ...]
    result_view: str
    udfs: tuple[UdfSignature, ...]
    statements: tuple[str, ...]  # the CREATE VIEW statements exactly as written to views.sql, in order
    views_sql: str
    udfs_py: str
    notes: str


def _statements(views) -> list[str]:
    return [f'CREATE VIEW "{v.name}" AS\n{v.query.sql(dialect=DIALECT, pretty=True)}' for v in views]


@functools.lru_cache(maxsize=1)
def duckdb_functions() -> frozenset[str]:
    """Names of DuckDB's built-in functions (scalar, aggregate, table, macros)."""
    con = duckdb.connect()
    try:
        return frozenset(r[0].lower() for r in con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall())
    finally:
        con.close()


def _function_names(query: exp.Expression) -> list[tuple[str, exp.Expression]]:
    found = []
    for node in query.find_all(exp.Func):
        if isinstance(node, exp.Anonymous):
            found.append((str(node.this).lower(), node))
    return found


def _bound_by_duckdb(view: ViewDefinition, earlier: list[ViewDefinition],
                     sources: list[Source]) -> list[str] | None:
    """The output columns DuckDB gives ``view`` over empty tables of the sources' types and the earlier
    views; None if DuckDB cannot bind it either (or it calls a UDF, which is not registered here)."""
    con = duckdb.connect()
    try:
        for source in sources:
            columns = ", ".join(f"{exp.to_identifier(c).sql(dialect=DIALECT)} {t}" for c, t in source.format.columns)
            con.execute(f"CREATE TABLE {exp.to_identifier(source.name).sql(dialect=DIALECT)} ({columns})")
        for definition in [*earlier, view]:
            con.execute(f"CREATE VIEW {exp.to_identifier(definition.name).sql(dialect=DIALECT)} AS "
                        f"{definition.query.sql(dialect=DIALECT)}")
        return [row[0] for row in con.execute(f"DESCRIBE {exp.to_identifier(view.name).sql(dialect=DIALECT)}")
                .fetchall()]
    except duckdb.Error:
        return None
    finally:
        con.close()


def check(answer: Answer, script: Script, sources: list[Source]) -> Candidate:
    """Check ``answer`` statically; raises :class:`~rewriter.errors.Problem` (kind ``static`` or ``udf``)."""
    text = ";\n".join(answer.views) + ";"
    try:
        views = parse_views(text)
    except IvmError as error:
        raise Problem("static", str(error)) from None
    source_names = {s.name for s in sources}
    names = [v.name for v in views]
    for name in names:
        if name in source_names:
            raise Problem("static", f"view {name} has the name of a source table; choose another name")
    if answer.result_view not in names:
        raise Problem("static", f"result_view {answer.result_view!r} is not one of the views ({', '.join(names)})")
    try:
        udfs = signatures(list(answer.udfs), script)
    except UdfProblem as error:
        raise Problem("udf", str(error)) from None
    udf_names = {u.name.lower() for u in udfs}
    builtins = duckdb_functions()
    for name in udf_names & builtins:
        raise Problem("udf", f"udf {name} has the name of a DuckDB function; use the DuckDB function instead")
    schema: dict[str, dict[str, str]] = {s.name: dict(s.format.columns) for s in sources}
    for view in views:
        unknown = sorted(referenced_relations(view.query) - set(schema))
        if unknown:
            later = unknown[0] in names
            raise Problem("static", f"view {view.name} reads {unknown[0]}, which is "
                          + ("defined later; order the views so that each reads only earlier ones" if later
                             else f"not a table; the tables are {', '.join(sorted(schema))}"))
        for function, _ in _function_names(view.query):
            if function not in builtins and function not in udf_names:
                candidates = ", ".join(sorted(udf_names)) or "none declared"
                raise Problem("static", f"view {view.name} calls {function}(), which is neither a DuckDB function "
                                        f"nor a declared udf (udfs: {candidates})")
        try:
            qualified = qualify(view.query.copy(), schema=schema, dialect=DIALECT, validate_qualify_columns=True,
                                quote_identifiers=False)
            outputs = list(qualified.named_selects)
        except (SqlglotError, ValueError, KeyError) as error:
            # sqlglot cannot resolve every DuckDB form (the PIVOT statement: PIVOT t ON c USING sum(x));
            # DuckDB itself is the judge, binding the view over empty copies of the sources
            outputs = _bound_by_duckdb(view, views[:views.index(view)], sources)
            if outputs is None:
                raise Problem("static", f"view {view.name}: {first_line(error)}") from None
        if len({o.lower() for o in outputs}) != len(outputs) or not all(outputs):
            raise Problem("static", f"view {view.name}: every output column needs a distinct name (alias "
                                    f"expressions); got {', '.join(outputs)}")
        schema[view.name] = {o: "UNKNOWN" for o in outputs}
    statements = _statements(views)
    header = [f"-- Views generated by `ivm rewrite` from {script.path.name if script.path else 'the script'}.",
              f"-- Result view: {answer.result_view}."]
    if udfs:
        header.append("-- Calls Python UDFs from udfs.py (" + ", ".join(u.name for u in udfs)
                      + "): register them first, e.g. udfs.register_udfs(db.con).")
    views_sql = "\n".join(header) + "\n\n" + ";\n\n".join(statements) + ";\n"
    return Candidate(views=tuple(views), result_view=answer.result_view, udfs=tuple(udfs),
                     statements=tuple(statements), views_sql=views_sql,
                     udfs_py=module_text(script, udfs), notes=answer.notes)
