"""Static checks of an answer, before any of it runs.

1. Every statement parses as DuckDB SQL and is ``CREATE VIEW name AS SELECT ...``; nothing writes, reads
   files or the network, or is non-deterministic (``ivm.plan.parse.parse_views`` refuses those).
2. View names are new (not a source), the result view is one of them, and views read only the sources and
   views defined before them.
3. Every table and column resolves (sqlglot's ``qualify`` against the sources' DuckDB schemas).
4. Every function is a DuckDB function or a UDF the answer names, and every UDF is a top-level function of
   the user's script with a usable signature (:mod:`rewriter.udfs`).
5. Nothing depends on the order DuckDB reads rows in (:func:`order_dependence`): a ``row_number()``, ``lag``
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


# window functions whose value depends on the order of the rows in their partition
# (rank, dense_rank, cume_dist and percent_rank are not among them: without ORDER BY every row of a
# partition is a peer of every other, so they are the same constant for all of them)
ORDERED_WINDOW_FUNCTIONS = (exp.RowNumber, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
                            exp.Ntile)
# aggregates that pick one row's value: whichever is read first (or last)
PICKING_AGGREGATES = (exp.First, exp.Last, exp.AnyValue)
PICKING_NAMES = frozenset({"first", "last", "any_value", "arbitrary"})
# aggregates whose value lists the rows in the order they are read
LISTING_AGGREGATES = (exp.ArrayAgg, exp.ArrayUniqueAgg, exp.GroupConcat)
LISTING_NAMES = frozenset({"list", "array_agg", "string_agg", "group_concat", "listagg"})
# wrappers (and modifiers) between an aggregate and the window it runs in or the sort that fixes its order
TRANSPARENT = (exp.IgnoreNulls, exp.RespectNulls, exp.Filter)
SORTING_NAMES = frozenset({"list_sort", "array_sort", "list_reverse_sort", "array_reverse_sort", "sort_array"})
FIX_ORDER = "add ORDER BY over columns that make it unique"


def _enclosing(node: exp.Expression) -> exp.Expression | None:
    """The first parent of ``node`` that is not IGNORE NULLS / RESPECT NULLS / FILTER."""
    parent = node.parent
    while isinstance(parent, TRANSPARENT):
        parent = parent.parent
    return parent


def _named(node: exp.Expression, names: frozenset[str]) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() in names


def _ordered_inside(node: exp.Expression) -> bool:
    """Whether an aggregate carries its own ORDER BY (``list(x ORDER BY y)``, ``WITHIN GROUP (ORDER BY y)``)."""
    return (isinstance(node.this, exp.Order) or any(isinstance(a, exp.Order) for a in node.expressions)
            or isinstance(node.parent, exp.WithinGroup))


def _sorted_afterwards(node: exp.Expression) -> bool:
    """Whether a list aggregate is sorted right away (``list_sort(list(x))``), so reading order cannot show."""
    parent = node.parent
    return isinstance(parent, exp.ArraySort) or _named(parent, SORTING_NAMES)


def _named_window(window: exp.Window) -> exp.Window | None:
    """The definition of the named window ``OVER w`` refers to (``WINDOW w AS (...)``), if it is in reach."""
    name = window.args.get("alias")
    select = window.find_ancestor(exp.Select)
    for definition in (select.args.get("windows") or []) if name is not None and select is not None else []:
        if isinstance(definition.this, exp.Identifier) and definition.this.name.lower() == name.name.lower():
            return definition
    return None


def _whole_partition(spec: exp.Expression | None) -> bool:
    return spec is not None and str(spec.args.get("start", "")).upper() == "UNBOUNDED" \
        and str(spec.args.get("end", "")).upper() == "UNBOUNDED"


def _window_problem(window: exp.Window) -> str | None:
    if window.args.get("alias") is not None and window.args.get("order") is None:
        definition = _named_window(window)
        if definition is None or definition.args.get("order") is not None:
            return None  # ordered there (or out of reach: not refused on a guess)
        window = exp.Window(this=window.this, partition_by=definition.args.get("partition_by"),
                            spec=definition.args.get("spec") or window.args.get("spec"))
    if window.args.get("order") is not None:
        return None
    function = window.this
    while isinstance(function, TRANSPARENT):
        function = function.this
    spec = window.args.get("spec")
    if (isinstance(function, (*ORDERED_WINDOW_FUNCTIONS, *PICKING_AGGREGATES, *LISTING_AGGREGATES))
            or _named(function, PICKING_NAMES | LISTING_NAMES)):
        return f"{window.sql(dialect=DIALECT)} has no ORDER BY in OVER; {FIX_ORDER} inside OVER (...)"
    if spec is not None and str(spec.args.get("kind", "")).upper() in ("ROWS", "GROUPS") and not _whole_partition(spec):
        return f"{window.sql(dialect=DIALECT)} frames rows with no ORDER BY in OVER; {FIX_ORDER} inside OVER (...)"
    return None


def _aggregate_problem(node: exp.Expression) -> str | None:
    if isinstance(_enclosing(node), exp.Window) or _ordered_inside(node):
        return None  # a window's own ORDER BY decides (see _window_problem)
    if isinstance(node, PICKING_AGGREGATES) or _named(node, PICKING_NAMES):
        return (f"{node.sql(dialect=DIALECT)} takes the value of whichever row it meets first (or last); use min()/max(), arg_min()/"
                f"arg_max(), or {FIX_ORDER} inside the aggregate (first(x ORDER BY ...))")
    if (isinstance(node, LISTING_AGGREGATES) or _named(node, LISTING_NAMES)) and not _sorted_afterwards(node):
        return (f"{node.sql(dialect=DIALECT)} lists values in the order rows are read; {FIX_ORDER} inside the "
                f"aggregate (list(x ORDER BY ...), string_agg(x, ',' ORDER BY ...))")
    return None


def _query_problem(query: exp.Expression) -> str | None:
    if query.args.get("order") is not None:
        return None
    if isinstance(query.parent, exp.Exists) or (isinstance(query.parent, exp.Subquery)
                                                and isinstance(query.parent.parent, exp.Exists)):
        return None  # whether a row exists does not depend on which
    if isinstance(query, exp.Select) and query.args.get("group") is None \
            and any(isinstance(e.unalias(), exp.AggFunc) for e in query.expressions) \
            and all(e.find(exp.AggFunc) or not e.find(exp.Column) for e in query.expressions):
        return None  # a global aggregate: one row, whichever order
    if query.args.get("limit") is not None or query.args.get("offset") is not None:
        return f"LIMIT / OFFSET without ORDER BY keeps whichever rows are read first; {FIX_ORDER}"
    distinct = query.args.get("distinct")
    if isinstance(distinct, exp.Distinct) and distinct.args.get("on") is not None:
        return f"DISTINCT ON without ORDER BY keeps whichever row of each group is read first; {FIX_ORDER}"
    return None


def order_dependence(query: exp.Expression) -> str | None:
    """Why ``query``'s result depends on the order DuckDB reads rows in, or None. DuckDB reads a small file in
    file order and a large one in parallel, so verification on small data cannot see this; ORDER BY over
    columns that make the order unique is the cure (min/max/arg_min/arg_max and COUNT/SUM are fine as they
    are).

    Example:
        >>> import sqlglot
        >>> order_dependence(sqlglot.parse_one("SELECT first(x) FROM t GROUP BY k", read="duckdb"))[:38]
        'FIRST(x) takes the value of whichever '
        >>> order_dependence(sqlglot.parse_one("SELECT arg_max(x, y) FROM t GROUP BY k", read="duckdb")) is None
        True
    """
    for node in query.walk():
        if isinstance(node, exp.Window):
            found = _window_problem(node)
        elif isinstance(node, (exp.Select, exp.SetOperation)):
            found = _query_problem(node)
        elif isinstance(node, exp.Func):
            found = _aggregate_problem(node)
        else:
            found = None
        if found:
            return found
    return None


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
        order_problem = order_dependence(view.query)
        if order_problem:
            raise Problem("static", f"view {view.name} depends on the order rows are read in: {order_problem}")
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
