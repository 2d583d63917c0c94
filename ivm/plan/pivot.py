"""PIVOT and UNPIVOT spelled out as plain SQL, so that the aggregate and UNNEST rules maintain them instead of a
whole-view recompute (pandas' ``pivot_table`` and ``melt`` come back from the rewriter as these).

DuckDB's meaning, measured on DuckDB 2.0.1 and kept here:

* PIVOT compares each row's ON column, cast to VARCHAR, with each IN value cast to VARCHAR, NULL matching NULL
  (``IN (0.0)`` misses an integer 0, ``IN ('0')`` finds it). Each (value, aggregate) pair is that aggregate
  over the matching rows of the group, an aggregate with a FILTER: COUNT gives 0 where nothing matches, SUM
  NULL. Without GROUP BY it groups by every input column that neither ON nor USING names; with nothing left,
  it is one global row. Columns are named ``value[_value2..][_alias]`` (the alias of an aggregate, or its text
  when there are several), in the order values x aggregates.
* UNPIVOT makes one row per input row and ON entry (a column, or a tuple of columns for several VALUE
  columns), keeps the input's other columns first, names each entry by its alias or its columns' names joined
  by ``_``, and drops the rows where any value is NULL unless INCLUDE NULLS.

A shape this module cannot pin down (an ON expression, IN values that are not literals, a source whose
columns are not known without binding it, COLUMNS(...), an aggregate it cannot tell from a scalar function)
is left as written and falls back to recompute, explained. DuckDB binds both texts over empty tables of the
view's inputs (:func:`ivm.plan.column_types.bound_columns`): where the column names or types differ, or either
does not bind there, the view falls back too, saying so.
"""
from __future__ import annotations

import itertools
from typing import Mapping, Sequence

from sqlglot import exp

from ivm.errors import IvmError
from ivm.plan.column_types import bound_columns
from ivm.sql import deduplicated_names

Schema = Mapping[str, Mapping[str, str]]

# outside an aggregate call, a USING expression may only combine aggregates with these (a function sqlglot does
# not know could be an aggregate, which would then be computed over the whole group, unfiltered)
_SCALAR_AROUND_AGGREGATES = (exp.Cast, exp.TryCast, exp.Coalesce, exp.Round, exp.Nullif, exp.Abs)


# DuckDB's pivot_filter_threshold: above it DuckDB groups by the raw ON value before matching its text, so
# values that are equal but print differently (-0.0 and 0.0, INTERVAL '1 day' and '24 hours', 'a' and 'A'
# under NOCASE) share a column there, not in FILTERs
_FILTER_THRESHOLD = 20


class _Unsupported(Exception):
    """A PIVOT/UNPIVOT this module does not spell out; the message says which kind (the view falls back)."""


def spelled_out(query: exp.Query, schema: Schema) -> exp.Query:
    """``query`` with each PIVOT/UNPIVOT replaced by the SELECT DuckDB means by it (a copy; ``query`` itself when
    it has none). Raises IvmError (the planner's fallback, with the reason) for one it does not spell out.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one("SELECT * FROM t PIVOT (SUM(v) FOR g IN (0, 1) GROUP BY d)", read="duckdb")
        >>> print(spelled_out(q, {"t": {"d": "INT", "g": "INT", "v": "INT"}}).sql("duckdb", pretty=True))
        SELECT
          *
        FROM (
          SELECT
            "d" AS "d",
            SUM(v) FILTER(WHERE
              CAST("g" AS TEXT) IS NOT DISTINCT FROM CAST(0 AS TEXT)) AS "0",
            SUM(v) FILTER(WHERE
              CAST("g" AS TEXT) IS NOT DISTINCT FROM CAST(1 AS TEXT)) AS "1"
          FROM t
          GROUP BY
            "d"
        ) AS __unnamed_pivot
    """
    if query.find(exp.Pivot) is None:
        return query
    result = query.copy()
    for pivot in reversed(list(result.find_all(exp.Pivot))):  # innermost first
        kind = "UNPIVOT" if pivot.args.get("unpivot") else "PIVOT"
        try:
            _replace(pivot, result, schema)
        except _Unsupported as why:
            raise IvmError(f"{kind} {why} has no delta rule yet") from None
    theirs, ours = bound_columns(query, schema), bound_columns(result, schema)
    if theirs is None or ours is None:
        raise IvmError("PIVOT/UNPIVOT: DuckDB could not bind it over empty tables, so ivm's spelling of it is not "
                       "checked")
    if theirs != ours:
        differ = next(((o, t) for o, t in zip(ours, theirs) if o != t), None)
        raise IvmError(f"PIVOT/UNPIVOT: ivm's spelling gives {differ[0]} where DuckDB gives {differ[1]}" if differ
                       else f"PIVOT/UNPIVOT: ivm's spelling gives {len(ours)} columns, DuckDB {len(theirs)}")
    return result


def _replace(pivot: exp.Pivot, query: exp.Query, schema: Schema) -> None:
    if pivot.args.get("this") is not None:  # the statement form: PIVOT src ON .. USING ..
        source = pivot.this
        if pivot.args.get("unpivot"):
            into = pivot.args.get("into")
            name = into.this.name if into is not None else "name"
            values = [v.name for v in into.expressions] if into is not None else ["value"]
            select = _unpivot(source, pivot.expressions, name, values, bool(pivot.args.get("include_nulls")),
                              query, schema)
        else:
            select = _pivot(source, pivot.expressions, pivot.args.get("using") or [], pivot.args.get("group"),
                            query, schema)
        pivot.replace(select)
        return
    # the SQL-standard form, hanging off its source: FROM src PIVOT (aggs FOR col IN (..) ..) [AS p(..)]
    holder = pivot.parent
    if not isinstance(holder, (exp.Table, exp.Subquery)) or len(holder.args.get("pivots") or []) != 1:
        raise _Unsupported("with more than one PIVOT on one table")
    source = holder.copy()
    source.set("pivots", None)
    fields = pivot.args.get("fields") or []
    if pivot.args.get("unpivot"):
        if len(fields) != 1 or len(pivot.expressions) != 1:
            raise _Unsupported("with several FOR clauses")
        target = pivot.expressions[0]
        values = [v.name for v in target.expressions] if isinstance(target, exp.Tuple) else [target.name]
        select = _unpivot(source, fields[0].expressions, fields[0].this.name, values,
                          bool(pivot.args.get("include_nulls")), query, schema)
    else:
        select = _pivot(source, fields, pivot.expressions, pivot.args.get("group"), query, schema)
    alias = pivot.args.get("alias")
    if alias is None:  # DuckDB names an unaliased PIVOT __unnamed_pivot: t.x past it is an outer t
        alias = exp.TableAlias(this=exp.to_identifier("__unnamed_pivot"))
    holder.replace(exp.Subquery(this=select, alias=alias.copy()))


# -- PIVOT ------------------------------------------------------------------------------------------------
def _pivot(source: exp.Expression, fields: Sequence[exp.Expression], aggregates: Sequence[exp.Expression],
           group: exp.Group | None, query: exp.Query, schema: Schema) -> exp.Select:
    columns = _source_columns(source, query, schema)
    if not fields or not aggregates or any(not isinstance(f, exp.In) or f.args.get("query") is not None
                                           or not isinstance(f.this, exp.Column) for f in fields):
        raise _Unsupported("whose ON is not a column with an IN list of values")  # ON without IN (its columns come from the data), ON an expression
    on = [_resolve(f.this.name, columns) for f in fields]
    values = [[_pivot_value(v) for v in f.expressions] for f in fields]
    if len(list(itertools.product(*values))) > _FILTER_THRESHOLD:
        raise _Unsupported(f"with more than {_FILTER_THRESHOLD} value combinations")
    named = [(a.this, a.alias) if isinstance(a, exp.Alias) else (a, None) for a in aggregates]
    for body, _ in named:
        _check_aggregate(body)
    if group is not None:
        if any(not isinstance(g, exp.Column) for g in group.expressions):
            raise _Unsupported("grouped by an expression")
        keys = [_resolve(g.name, columns) for g in group.expressions]
    else:
        used = {c.name.lower() for body, _ in named for c in body.find_all(exp.Column)} | {c.lower() for c in on}
        keys = [c for c in columns if c.lower() not in used]
    outputs: list[exp.Expression] = [exp.alias_(_column(k), k, quoted=True) for k in keys]
    suffix = len(named) > 1 or any(alias for _, alias in named)
    for combination in itertools.product(*values):
        condition = exp.and_(*[_same_text(_column(c), value) for c, (value, _) in zip(on, combination)])
        prefix = "_".join(name for _, name in combination)
        for body, alias in named:
            label = f"{prefix}_{alias or _duckdb_text(body)}" if suffix else prefix
            outputs.append(exp.alias_(_filtered(body, condition), label, quoted=True))
    for output, unique_name in zip(outputs, deduplicated_names([o.alias for o in outputs])):
        output.set("alias", exp.to_identifier(unique_name, quoted=True))  # IN ('NULL', NULL): NULL, NULL_1
    select = exp.select(*outputs).from_(_from(source))
    return select.group_by(*[_column(k) for k in keys]) if keys else select


def _pivot_value(value: exp.Expression) -> tuple[exp.Expression, str]:
    """An IN value and the name DuckDB gives its columns."""
    if isinstance(value, (exp.PivotAlias, exp.Alias)):
        inner, label = _pivot_value(value.this)
        alias = value.args.get("alias")
        return inner, alias.name if alias is not None else label
    if isinstance(value, exp.Null):
        return value, "NULL"
    if isinstance(value, exp.Boolean):
        return value, "true" if value.this else "false"
    # numbers: integers only; DuckDB matches a decimal by the text the user wrote (.5 is '.5'), which sqlglot
    # does not keep (it reads 0.5)
    if isinstance(value, exp.Literal) and (value.is_string or value.this.isdigit()):
        return value, value.this
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal) and value.this.this.isdigit():
        return value, f"-{value.this.this}"
    raise _Unsupported("whose IN values are not literals (or numbers with a fraction)")  # an expression: its name is DuckDB's rendering of it


def _check_aggregate(body: exp.Expression) -> None:
    if body.find(exp.Window, exp.Anonymous, exp.Subquery) is not None or body.find(exp.AggFunc) is None:
        raise _Unsupported("whose USING is not made of known aggregate functions")
    for node in body.walk():
        inside = node.find_ancestor(exp.AggFunc, exp.Filter) is not None
        if isinstance(node, exp.Func) and not isinstance(node, (exp.AggFunc, *_SCALAR_AROUND_AGGREGATES)) \
                and not inside:
            raise _Unsupported("whose USING calls a function ivm cannot tell from an aggregate")
        if isinstance(node, exp.Column) and not inside:
            raise _Unsupported("whose USING reads a column outside an aggregate")


def _filtered(body: exp.Expression, condition: exp.Expression) -> exp.Expression:
    """``body`` with every aggregate call in it restricted to the rows of ``condition``."""
    def restrict(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Filter):
            where = node.expression
            return exp.Filter(this=node.this.copy(),
                              expression=exp.Where(this=exp.and_(exp.paren(where.this.copy()), condition.copy())))
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Filter):
            return exp.Filter(this=node.copy(), expression=exp.Where(this=condition.copy()))
        return node
    return body.copy().transform(restrict, copy=False)


def _same_text(value: exp.Expression, literal: exp.Expression) -> exp.Expression:
    return exp.NullSafeEQ(this=exp.cast(value, "VARCHAR"), expression=exp.cast(literal.copy(), "VARCHAR"))


def _duckdb_text(body: exp.Expression) -> str:
    """DuckDB's text of an unaliased aggregate in a column name (``max(v)``); where this guess is wrong the
    engine's check against DuckDB's own names sends the view to recompute."""
    if isinstance(body, exp.Count) and isinstance(body.this, exp.Star):
        return "count_star()"
    if isinstance(body, exp.AggFunc) and isinstance(body.this, exp.Column) and len(body.args) <= 2:
        return f"{body.sql_name().lower()}({body.this.name})"
    return body.sql(dialect="duckdb")


# -- UNPIVOT ----------------------------------------------------------------------------------------------
def _unpivot(source: exp.Expression, entries: Sequence[exp.Expression], name: str, values: Sequence[str],
             include_nulls: bool, query: exp.Query, schema: Schema) -> exp.Select:
    columns = _source_columns(source, query, schema)
    if not entries:
        raise _Unsupported("without ON columns")
    labels, lists = [], [[] for _ in values]
    taken: set[str] = set()
    for entry in entries:
        label = None
        if isinstance(entry, (exp.Alias, exp.PivotAlias)):
            label = entry.args["alias"].name
            entry = entry.this
        members = entry.expressions if isinstance(entry, exp.Tuple) else [entry]
        if len(members) != len(values) or any(not isinstance(m, exp.Column) or m.table for m in members):
            raise _Unsupported("whose ON is not a list of columns")  # COLUMNS(..), *, expressions
        resolved = [_resolve(m.name, columns) for m in members]
        labels.append(label if label is not None else "_".join(resolved))
        for target, member in zip(lists, resolved):
            target.append(_column(member))
        taken |= {r.lower() for r in resolved}
    kept = [c for c in columns if c.lower() not in taken]
    made = [name.lower(), *(v.lower() for v in values)]
    if len(set(made)) != len(made) or set(made) & {c.lower() for c in kept}:
        raise _Unsupported("whose NAME or VALUE column is named like another of its columns")
    outputs = [exp.alias_(_column(c), c, quoted=True) for c in kept]
    # UNNEST in a SELECT list is sqlglot's Explode; the lists unnest side by side
    outputs.append(exp.alias_(exp.Explode(this=exp.Array(expressions=[exp.Literal.string(label) for label in labels])),
                              name, quoted=True))
    for value, members in zip(values, lists):
        outputs.append(exp.alias_(exp.Explode(this=exp.Array(expressions=members)), value, quoted=True))
    select = exp.select(*outputs).from_(_from(source))
    if include_nulls:
        return select
    present = exp.and_(*[exp.Not(this=exp.Is(this=_column(v), expression=exp.Null())) for v in values])
    return exp.select("*").from_(exp.Subquery(this=select, alias=exp.TableAlias(
        this=exp.to_identifier("__ivm_unpivot")))).where(present)


# -- shared -----------------------------------------------------------------------------------------------
def _source_columns(source: exp.Expression, query: exp.Query, schema: Schema) -> list[str]:
    """The column names of a PIVOT/UNPIVOT's input, where they are known without binding it."""
    if isinstance(source, exp.Table) and not source.args.get("db") and not source.args.get("joins"):
        cte = _cte(source.name, query)
        if cte is not None:
            return _named(cte)
        known = schema.get(source.name.lower()) or schema.get(source.name)
        if known is not None:
            return list(known)
    if isinstance(source, exp.Subquery) and isinstance(source.this, exp.Query) and not source.args.get("joins"):
        return _named(source.this)
    raise _Unsupported("over an input whose columns ivm does not know before binding it")


def _cte(name: str, query: exp.Query) -> exp.Query | None:
    for with_ in query.find_all(exp.With):
        for cte in with_.expressions:
            if cte.alias_or_name.lower() == name.lower():
                return cte.this
    return None


def _named(select: exp.Query) -> list[str]:
    branch = select
    while isinstance(branch, exp.SetOperation):
        branch = branch.this
    if not isinstance(branch, exp.Select) or any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and
                                                                              isinstance(e.this, exp.Star))
                                                 or e.find(exp.Columns) is not None for e in branch.expressions):
        raise _Unsupported("over an input whose columns ivm does not know before binding it (a star)")
    names = [e.alias_or_name for e in branch.expressions]
    if any(not n for n in names) or len({n.lower() for n in names}) != len(names):
        raise _Unsupported("over an input with unnamed or duplicate columns")
    return names


def _resolve(name: str, columns: Sequence[str]) -> str:
    """DuckDB's own spelling of column ``name`` (it matches names case-insensitively)."""
    found = [c for c in columns if c.lower() == name.lower()]
    if len(found) != 1:
        raise _Unsupported("naming a column its input does not have once")
    return found[0]


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _from(source: exp.Expression) -> exp.Expression:
    source = source.copy()
    if isinstance(source, exp.Subquery) and not source.alias:
        source.set("alias", exp.TableAlias(this=exp.to_identifier("__ivm_pivot_source")))
    return source
