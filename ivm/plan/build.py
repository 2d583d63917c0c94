"""Turn one checked view query into stages (see :mod:`ivm.plan.nodes`).

The query is normalised and qualified against the known relations by :mod:`ivm.plan.normalise` (every
column gets its table, ``*`` is expanded, DuckDB's shorthands become plain SQL), derived tables become CTEs, and CTEs that are plain select-project-join are merged into their readers
(all by sqlglot's optimizer). What remains is split at aggregate boundaries: each CTE and each
aggregate's input becomes a stage of its own.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Mapping, Sequence

from sqlglot import exp
from sqlglot.errors import SqlglotError

from ivm.errors import IvmError
from ivm.plan.state import subtractive_state, unknown_aggregate
from ivm.plan.column_types import column_type, duckdb_types
from ivm.plan.lateral import relations_of
from ivm.plan.normalise import (comma_segments_grouped, is_comma, join_group, names_visible_cte, qualified, unique,
                                unused_name)
from ivm.plan.ties import break_ties
from ivm.plan.pivot import spelled_out
from ivm.plan.nodes import AggregateStage, Branch, RecomputeStage, Scan, SpjStage, Stage, ViewPlan
from ivm.sql import DIALECT, RAW_SCHEMA, column, group_value, ident, internal_table, is_asof

from ivm.plan.lower import lower_select, lower_set_operation  # noqa: E402  (it reads helpers of this module)

Schema = Mapping[str, Mapping[str, str]]  # relation -> column -> type


def plan_view(name: str, query: exp.Query, schema: Schema, columns: Sequence[str], sql: str | None = None) -> ViewPlan:
    """Plan view ``name``; ``columns`` are the output names DuckDB gives the query, which we keep; ``sql``
    is the user's text of the query, kept verbatim if the view falls back (see :func:`fallback_plan`). Ties
    in its orders are broken (:mod:`ivm.plan.ties`) in a planned view only: a fallback runs the user's text.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one("SELECT k, SUM(v) AS s FROM t WHERE v > 0 GROUP BY k", read="duckdb")
        >>> plan = plan_view("v1", q, {"t": {"k": "INT", "v": "INT"}}, ["k", "s"])
        >>> [(s.name, s.kind) for s in plan.stages]
        [('v1__input', 'spj'), ('v1', 'aggregate')]
    """
    unknown = sorted(referenced_relations(query) - set(schema))
    if unknown:
        raise IvmError(f"view {name} reads unknown table {unknown[0]}; known tables: {', '.join(sorted(schema)) or 'none'}")
    try:
        spelled = spelled_out(parentheses_dropped(query), schema)  # PIVOT/UNPIVOT as the aggregates and UNNESTs
        spelled = comma_segments_grouped(spelled)  # before the refusals: a grouped one is maintained
        _refuse_whole_view_fallbacks(spelled, schema)
        normal = qualified(name, spelled, schema)
        # an ASOF JOIN's ties were broken by qualified() (ties.asof_ties_broken)
        asof = any(is_asof(join) for join in normal.find_all(exp.Join))
        tie_broken = normal.sql(dialect=DIALECT) if break_ties(normal) or asof else None
        return dataclasses.replace(_plan_stages(name, normal, schema, columns), tie_broken=tie_broken)
    except RecursionError:  # a shape the rules keep splitting: correct and explained as a recompute
        reason = "the planner could not split this query (it nests too deep for its rules)"
    except (IvmError, SqlglotError) as error:
        reason = f"the planner could not split this query ({str(error).splitlines()[0][:120]})"
    return fallback_plan(name, query, columns, reason, sql)


def parentheses_dropped(query: exp.Query) -> exp.Query:
    """``(SELECT ...)`` as the SELECT, and a derived table in doubled parentheses as one in single ones: DuckDB
    reads them alike (dbt macros wrap whole queries), while the planner splits only the plain forms.

    Example:
        >>> import sqlglot
        >>> parentheses_dropped(sqlglot.parse_one("((SELECT x FROM ((SELECT 1 AS x)) s))")).sql()
        'SELECT x FROM (SELECT 1 AS x) AS s'
    """
    query = _bare(query).copy()
    for subquery in list(query.find_all(exp.Subquery)):
        inner = subquery.this
        if isinstance(inner, exp.Subquery) and _only_parentheses(inner):
            subquery.set("this", _bare(inner))
    return query


def _only_parentheses(node: exp.Subquery) -> bool:
    return isinstance(node.this, exp.Query) and all(value in (None, [], False) for key, value in node.args.items()
                                                    if key != "this")


def _bare(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Subquery) and _only_parentheses(node):
        node = node.this
    return node


def fallback_plan(name: str, query: exp.Query, columns: Sequence[str], reason: str, sql: str | None = None,
                  reads: Sequence[str] = ()) -> ViewPlan:
    """One recompute stage over the user-facing relations, for queries DuckDB accepts (the caller
    described them) but our planner cannot split: correct, explained, and as slow as a recompute.

    With ``sql`` (the user's text), the stage reads a DuckDB view of that very text, so DuckDB binds the
    query exactly as the user wrote it (see :attr:`RecomputeStage.sql`). ``reads``: relations it reads
    beyond those named in the query (through a macro's body)."""
    body = query.copy() if sql is None else exp.select(*[column(c) for c in columns]).from_(raw_view(name))
    inputs = tuple(sorted(referenced_relations(query) | set(reads)))
    stage = RecomputeStage(name=name, columns=tuple(columns), inputs=inputs, query=body, reason=reason, sql=sql)
    return ViewPlan(name=name, sql=query.sql(dialect=DIALECT), columns=tuple(columns), stages=(stage,))




def raw_view(name: str) -> exp.Table:
    """The DuckDB view holding the verbatim text of fallen-back view ``name`` (a reserved name, so that
    the user's unqualified table names in the text still resolve to ``main``)."""
    return exp.Table(this=ident(f"__ivm_{name}"), db=ident(RAW_SCHEMA))


# Suffixes of the stages ivm makes itself (a UNION's __all, an aggregate's __input, a scalar subquery's __sq0, ...)
_STAGE_SUFFIX = re.compile(r"all|input|groups|pre|rows|sorted|b\d+|gs\d+|sq\d+|const\d+|scalar\d+")


def _cte_stage_name(view: str, cte: str) -> str:
    """The stage of CTE ``cte`` of ``view``; a CTE named like one of ivm's own stages gets a prefix.

    Example:
        >>> _cte_stage_name("v", "orders"), _cte_stage_name("v", "input")
        ('v__orders', 'v__cte_input')
    """
    return f"{view}__cte_{cte}" if _STAGE_SUFFIX.fullmatch(cte) else f"{view}__{cte}"


def _plan_stages(name: str, query: exp.Query, schema: Schema, columns: Sequence[str]) -> ViewPlan:
    """``query``: normalised and qualified (:func:`ivm.plan.normalise.qualified`), ties broken."""
    query = _constants_as_ctes(query.copy())
    stages: list[Stage] = []
    relations = {relation: relation for relation in schema}
    with_ = query.args.get("with_") or query.args.get("with")
    if with_ is not None:
        query.set("with_", None)
        query.set("with", None)
        for cte in with_.expressions:
            stage_name = _cte_stage_name(name, cte.alias_or_name.lower())
            body = _map_tables(cte.this.copy(), relations)
            planned = _plan_query(stage_name, body, None, schema)
            stages.extend(planned)
            relations[cte.alias_or_name.lower()] = stage_name
            schema = {**schema, stage_name: _stage_types(body, planned[-1].columns, schema)}
    stages.extend(_plan_query(name, _map_tables(query, relations), list(columns), schema))
    names = [stage.name for stage in stages]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:  # a CTE named like a stage of another CTE (WITH x AS (.. GROUP BY ..), "x__input" AS ..)
        raise IvmError(f"two stages would be named {twice}; rename the CTE")
    return ViewPlan(name=name, sql=query.sql(dialect=DIALECT), columns=tuple(columns), stages=tuple(stages))


def _refuse_whole_view_fallbacks(query: exp.Query, schema: Schema) -> None:
    """Shapes without a delta rule that must fall back before any rewrite: their meaning depends on what the
    rewrites would change (rows merged into a POSITIONAL JOIN's sides, a LIMIT that counts rows)."""
    positional = query.find(exp.PositionalColumn)
    if positional is not None:  # counted over the FROM clause's columns; ivm's stored tables have more
        raise IvmError(f"a positional reference ({positional.sql(dialect=DIALECT)}) has no delta rule yet: name the "
                       "column to have the view maintained")
    if any(with_.args.get("recursive") for with_ in query.find_all(exp.With)):
        raise IvmError("WITH RECURSIVE has no delta rule yet")
    pivot = query.find(exp.Pivot)
    if pivot is not None:
        raise IvmError(f"{'UNPIVOT' if pivot.args.get('unpivot') else 'PIVOT'} has no delta rule yet")
    for join in query.find_all(exp.Join):
        method = (join.args.get("method") or "").upper()
        if method == "POSITIONAL":
            raise IvmError("POSITIONAL JOIN has no delta rule yet (a deleted row changes which partner other rows "
                           "get)")
        if is_asof(join) and (join.args.get("using") or (join.side or "").upper() not in ("", "LEFT")):
            raise IvmError(f"ASOF {'JOIN ... USING' if join.args.get('using') else join.side.upper() + ' JOIN'} has "
                           "no delta rule yet; write ASOF [LEFT] JOIN ... ON")
    for select in query.find_all(exp.Select):
        if _comma_before_right_join(select):
            raise IvmError("a comma before a RIGHT/FULL JOIN has no delta rule yet (DuckDB binds the JOIN first)")
        if _merged_key_joined_again(select):
            raise IvmError("USING / NATURAL after a RIGHT or FULL JOIN joins on the merged key COALESCE(left, right); "
                           "that has no delta rule yet")
    if query.find(exp.Columns) is not None:
        raise IvmError("COLUMNS(...) has no delta rule yet (its columns are chosen when DuckDB binds the query)")
    operation = next((o for o in query.find_all(exp.Union, exp.Intersect, exp.Except)
                      if not (isinstance(o, exp.Union) and o.args.get("distinct") is False)), None)
    if operation is not None and query.find(exp.Collate) is not None:
        raise IvmError(f"COLLATE in a view with {operation.key.upper()} (a collation in any branch sets how all "
                       "branches compare) has no delta rule yet")
    if operation is not None:
        reads = {t.name.lower() for t in query.find_all(exp.Table)}
        collated = sorted(r for r in reads for typ in schema.get(r, {}).values() if "COLLATE" in typ.upper())
        if collated:
            raise IvmError(f"{operation.key.upper()} over a collated column of {collated[0]} has no delta rule yet")
    for limit in query.find_all(exp.Limit):
        options = limit.args.get("limit_options")
        if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
            raise IvmError("LIMIT ... PERCENT / WITH TIES has no delta rule yet")


def _merged_key_joined_again(select: exp.Select) -> bool:
    """Whether a USING or NATURAL join follows a RIGHT or FULL join in ``select``'s FROM: DuckDB joins it on the
    merged key COALESCE(left.k, right.k), where qualifying the columns would name one side's k.

    Example:
        >>> import sqlglot
        >>> _merged_key_joined_again(sqlglot.parse_one("SELECT * FROM a RIGHT JOIN b USING (k) JOIN c USING (k)"))
        True
        >>> _merged_key_joined_again(sqlglot.parse_one("SELECT * FROM a LEFT JOIN b USING (k) JOIN c USING (k)"))
        False
    """
    outer = False
    for join in select.args.get("joins") or []:
        if outer and (join.args.get("using") or (join.kind or "").upper() == "NATURAL"
                      or (join.args.get("method") or "").upper() == "NATURAL"):
            return True
        outer = outer or (join.side or "").upper() in ("RIGHT", "FULL")
    return False


def _comma_before_right_join(select: exp.Select) -> bool:
    """Whether a RIGHT or FULL join follows a comma in ``select``'s FROM. The comma binds looser than JOIN:
    ``a, b FULL JOIN c ON ..`` is ``a`` paired with ``(b FULL JOIN c)``, which keeps c's unmatched rows once per
    row of ``a``; read left-deep, ``(a, b) FULL JOIN c`` would keep them once, padded. (Inner and LEFT joins give
    the same bag either way, so only these two matter.)

    Example:
        >>> import sqlglot
        >>> _comma_before_right_join(sqlglot.parse_one("SELECT * FROM a, b FULL JOIN c ON c.k = b.k"))
        True
        >>> _comma_before_right_join(sqlglot.parse_one("SELECT * FROM a CROSS JOIN b FULL JOIN c ON c.k = b.k"))
        False
    """
    comma = False
    for join in select.args.get("joins") or []:
        if (join.side or "").upper() in ("RIGHT", "FULL") and comma:
            return True
        comma = comma or is_comma(join)
    return False


def _constants_as_ctes(query: exp.Query) -> exp.Query:
    """Move constant relations read in FROM / JOIN (``(VALUES ...) AS m(k, label)``, ``range(3) AS r(i)``,
    ``generate_series(...)`` over constants) into CTEs of their own: each becomes a stage that no deletion
    can change, and the query around it reads a stored table like any other, so it stays incremental
    instead of recomputing as a whole.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one("SELECT t.a, m.b FROM t AS t JOIN (VALUES (1, 2)) AS m(a, b) ON t.a = m.a")
        >>> _constants_as_ctes(q).sql()
        'WITH const0 AS (SELECT "m"."a" AS "a", "m"."b" AS "b" FROM (VALUES (1, 2)) AS m(a, b)) SELECT t.a, m.b FROM t AS t JOIN const0 AS m ON t.a = m.a'
    """
    ctes = []
    for select in list(query.find_all(exp.Select)):
        for relation in _tables(select):
            if not _is_constant(relation):
                continue
            alias = relation.args["alias"]
            cte = unused_name(query, "const", len(ctes))
            body = exp.select(*[exp.alias_(column(c.name, alias.name), ident(c.name)) for c in alias.columns]) \
                .from_(relation.copy())
            ctes.append(exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(cte))))
            relation.replace(exp.Table(this=exp.to_identifier(cte), alias=exp.TableAlias(this=alias.this.copy())))
    if ctes:
        with_ = query.args.get("with_") or query.args.get("with")
        query.set("with_", exp.With(expressions=ctes + (list(with_.expressions) if with_ else [])))
        query.set("with", None)
    return query




def _is_constant(relation: exp.Expression) -> bool:
    """A relation of constants with named columns: VALUES, UNNEST of a list, or a table function (range,
    generate_series)."""
    alias = relation.args.get("alias")
    if not isinstance(alias, exp.TableAlias) or not alias.columns or relation.find(exp.Column, exp.Select):
        return False
    if isinstance(relation, exp.Values):
        return True
    if isinstance(relation, exp.Unnest):  # UNNEST([...]) AS w(tag): one list of constants
        return len(relation.expressions) == 1 and not relation.args.get("offset")
    return isinstance(relation, exp.Table) and isinstance(relation.this, (exp.GenerateSeries, exp.GenerateDateArray))


def _stage_types(query: exp.Query, columns: Sequence[str], schema: Schema) -> dict[str, str]:
    """The types of a stage's columns, as DuckDB binds its query (by position: the names may differ);
    UNKNOWN where it cannot say."""
    typed = list((duckdb_types(query, schema) or {}).values())
    return {c: typed[i] if len(typed) == len(columns) else "UNKNOWN" for i, c in enumerate(columns)}


def referenced_relations(query: exp.Query) -> set[str]:
    """Names of the tables a query reads, references to CTEs excluded.

    A name is a CTE only where that CTE is visible: in the body of its WITH, in a later CTE of the same
    WITH, or inside itself when recursive. ``WITH c AS (SELECT * FROM t), t AS (...)`` reads table ``t``.

    Example:
        >>> import sqlglot
        >>> sorted(referenced_relations(sqlglot.parse_one(
        ...     "WITH c AS (SELECT * FROM t), t AS (SELECT * FROM c JOIN u ON TRUE) SELECT * FROM t")))
        ['t', 'u']
    """
    return {t.name.lower() for t in query.find_all(exp.Table)
            if isinstance(t.this, exp.Identifier) and not names_visible_cte(t)}  # not range(3) and the like

def _map_tables(query: exp.Query, relations: Mapping[str, str]) -> exp.Query:
    """Point every table reference at the internal table that stores it, keeping its alias and what hangs on
    it: sqlglot parses a parenthesised join ``t LEFT JOIN (u JOIN w ON ..) ON ..`` as table ``u`` carrying the
    join with ``w`` (and a PIVOT or TABLESAMPLE hangs on its table the same way)."""
    query = query.copy()
    for node in list(query.find_all(exp.Table)):  # all found first: a moved join's tables are replaced after it
        if node.name.lower() in relations and not node.args.get("db"):
            table = internal_table(relations[node.name.lower()], node.alias_or_name)
            for key, value in list(node.args.items()):
                if key not in ("this", "db", "catalog", "alias") and value:
                    table.set(key, value)
            node.replace(table)
    return query


# ---------------------------------------------------------------------------------------------------------
# Classification


def _tables(select: exp.Select) -> list[exp.Expression]:
    return relations_of(select)


def _fallback_reason(select: exp.Select) -> str | None:
    """Why a SELECT is not a plain select-project-join or aggregate over one, or None if it is."""
    if not select.args.get("from_"):
        return "a SELECT without FROM"
    for table in _tables(select):
        group = join_group(table)
        if group is not None:
            inner = ", ".join(t.alias_or_name for t in [group, *(j.this for j in group.args.get("joins") or [])])
            return f"a parenthesised join ({inner}) joined to other tables has no delta rule yet"
        if isinstance(table, exp.Lateral):
            return (f"a LATERAL subquery ({table.alias_or_name or 'unnamed'}) with a nested subquery, an aggregate, "
                    "DISTINCT, a window or a LIMIT without a constant ORDER BY .. LIMIT has no delta rule yet")
        if not isinstance(table, exp.Table) or not table.args.get("db"):
            return f"reads {table.sql(dialect=DIALECT)[:40]}, which is not a table"
    for join in select.args.get("joins") or []:
        side, kind = (join.side or "").upper(), (join.kind or "").upper()
        if side or kind not in ("", "INNER", "CROSS"):
            return f"{(side + ' ' + kind).strip()} JOIN has no delta rule yet"
        method = (join.args.get("method") or "").upper()
        if method and method != "NATURAL":  # ASOF pairs a row with its best match, POSITIONAL by position:
            return f"{method} JOIN has no delta rule yet"  # deleting one row changes other rows' partners
        if join.args.get("using"):
            return "JOIN ... USING was not resolved"
    if select.args.get("limit") or select.args.get("offset"):
        bounds = [node.args.get("expression") for node in (select.args.get("limit"), select.args.get("offset"))
                  if node is not None]
        odd = next((b for b in bounds if not (isinstance(b, exp.Literal) and b.is_int)), None)
        if odd is not None:  # top-k stages keep a constant number of rows
            return (f"a LIMIT/OFFSET that is not a constant integer ({odd.sql(dialect=DIALECT)[:40]}) has no delta "
                    "rule; write the number")
        return "LIMIT/OFFSET (top-k) has no delta rule yet"
    if select.find(exp.Window):
        return "window functions have no delta rule yet"
    for node in select.find_all(exp.Subquery, exp.Exists, exp.Select):
        if node is not select:
            return "subqueries in expressions (EXISTS, IN, scalar) have no delta rule yet"
    if select.args.get("qualify"):
        return "QUALIFY has no delta rule yet"
    if has_grouping_sets(select):
        return GROUPING_SETS_REASON
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        return "DISTINCT ON has no delta rule yet"
    if distinct is not None and _is_aggregate(select):
        return "DISTINCT over an aggregate has no delta rule yet"
    if select.find(exp.Unnest, exp.Lateral):
        return "UNNEST/LATERAL have no delta rule yet"
    return None


GROUPING_SETS_REASON = "GROUPING SETS/ROLLUP/CUBE have no delta rule yet"


def has_grouping_sets(select: exp.Select) -> bool:
    """Whether ``select`` groups by GROUPING SETS, ROLLUP or CUBE (sqlglot keeps them among the GROUP BY
    expressions; older versions kept them in arguments of their own).

    Example:
        >>> import sqlglot
        >>> has_grouping_sets(sqlglot.parse_one("SELECT a, SUM(b) FROM t GROUP BY a, ROLLUP (c)"))
        True
    """
    group = select.args.get("group")
    if group is None:
        return False
    return any(group.args.get(arg) for arg in ("grouping_sets", "cube", "rollup")) or any(
        isinstance(e, (exp.GroupingSets, exp.Rollup, exp.Cube)) for e in group.expressions)


def _is_aggregate(select: exp.Select) -> bool:
    if select.args.get("group") or select.args.get("having"):
        return True
    return any(not agg.find_ancestor(exp.Window) and (isinstance(agg, exp.AggFunc) or unknown_aggregate(agg))
               for e in select.expressions for agg in e.find_all(exp.AggFunc, exp.Anonymous))


def _union_all_branches(query: exp.Query) -> list[exp.Query] | None:
    if isinstance(query, exp.Union) and not query.args.get("distinct"):
        left, right = _union_all_branches(query.left), _union_all_branches(query.right)
        return (left or [query.left]) + (right or [query.right])
    return None


# ---------------------------------------------------------------------------------------------------------
# Stages


def _plan_query(name: str, query: exp.Query, columns: list[str] | None, schema: Schema) -> list[Stage]:
    if isinstance(query, exp.Subquery):
        modifiers = {arg: query.args.get(arg) for arg in ("order", "limit", "offset") if query.args.get(arg)}
        query = query.this
        if modifiers:  # (query) ORDER BY ... LIMIT ...: the modifiers belong to the query inside
            if any(query.args.get(arg) for arg in ("order", "limit", "offset")):
                return [_recompute(name, query, columns or list(query.named_selects),
                                   "nested ORDER BY/LIMIT has no delta rule yet")]
            query = query.copy()
            for arg, value in modifiers.items():
                query.set(arg, value.copy())
    columns = columns or list(query.named_selects)
    if len({c.lower() for c in columns}) != len(columns):
        raise IvmError(f"{name} has duplicate output column names {columns}")  # plan_view falls back
    if not isinstance(query, exp.Select) and (query.args.get("limit") or query.args.get("offset")):
        lowered = _lowered(lower_set_operation, name, query, columns, schema)  # top-k over a set operation
        if isinstance(lowered, list):
            return lowered
        # never plan the set operation below without its LIMIT/OFFSET
        return [_recompute(name, query, columns, lowered or "LIMIT/OFFSET over this set operation has no "
                                                            "delta rule yet")]
    branches = _union_all_branches(query)
    if branches is not None:
        return _plan_union_all(name, branches, columns, schema)
    if isinstance(query, exp.Union):  # UNION (distinct): DISTINCT over the UNION ALL
        inner = f"{name}__all"
        stages = _plan_union_all(inner, _union_all_branches(exp.union(query.left, query.right, distinct=False)),
                                 columns, schema)
        return stages + [_distinct_over(name, inner, columns)]
    if not isinstance(query, exp.Select):
        lowered = _lowered(lower_set_operation, name, query, columns, schema)
        if isinstance(lowered, list):
            return lowered
        return [_recompute(name, query, columns, lowered or f"{query.key.upper()} has no delta rule yet")]
    distinct_on = query.args.get("distinct") is not None and query.args["distinct"].args.get("on")
    if query.args.get("order") and not query.args.get("limit") and not query.args.get("offset") and not distinct_on:
        query = query.copy()
        query.set("order", None)  # ORDER BY without LIMIT or OFFSET does not change the bag of rows
    reason = _fallback_reason(query)
    if reason:
        lowered = _lowered(lower_select, name, query, columns, schema)  # outer joins, subqueries, windows...
        if isinstance(lowered, list):
            return lowered
        return [_recompute(name, query, columns, lowered or reason)]
    query = _aliased(query, columns)
    if _is_aggregate(query) or query.args.get("distinct"):
        return _plan_aggregate(name, query, columns, schema)
    return [_spj(name, [query], columns)]


def _lowered(rule, name: str, query: exp.Query, columns: Sequence[str], schema: Schema) -> list[Stage] | str | None:
    """Stages from a rule of :mod:`ivm.plan.lower`, or why not (None: the caller's own reason). A rule
    that fails unexpectedly costs speed, never correctness: the stage is recomputed and explain says so."""
    try:
        return rule(name, query, columns, schema, _plan_query)
    except (IvmError, SqlglotError):
        raise
    except (KeyError, AttributeError, IndexError, TypeError, ValueError) as error:
        return f"the planner could not lower this query ({type(error).__name__}: {str(error)[:80]})"


def _aliased(select: exp.Select, columns: Sequence[str]) -> exp.Select:
    select = select.copy()
    if len(select.expressions) != len(columns):
        raise IvmError(f"cannot match the {len(select.expressions)} select expressions to columns {list(columns)}")
    select.set("expressions", [exp.alias_(e.unalias() if isinstance(e, exp.Alias) else e, ident(c))
                               for e, c in zip(select.expressions, columns)])
    return select


def _recompute(name: str, query: exp.Query, columns: Sequence[str], reason: str) -> RecomputeStage:
    inputs = tuple(sorted({t.name for t in query.find_all(exp.Table) if t.args.get("db")}))
    return RecomputeStage(name=name, columns=tuple(columns), inputs=inputs, query=query, reason=reason)


def _spj(name: str, selects: Sequence[exp.Select], columns: Sequence[str]) -> SpjStage:
    branches, lineage = [], 0
    for select in selects:
        scans = []
        for table in _tables(select):
            scans.append(Scan(relation=table.name, alias=table.alias_or_name, lineage=lineage))
            lineage += 1
        branches.append(Branch(select=select, scans=tuple(scans)))
    inputs = tuple(sorted({s.relation for b in branches for s in b.scans}))
    return SpjStage(name=name, columns=tuple(columns), inputs=inputs, branches=tuple(branches))


def _plan_union_all(name: str, branches: Sequence[exp.Query], columns: list[str], schema: Schema) -> list[Stage]:
    stages, selects = [], []
    for position, branch in enumerate(branches):
        if isinstance(branch, exp.Subquery):
            branch = branch.this
        simple = isinstance(branch, exp.Select) and not _fallback_reason(branch) \
            and not _is_aggregate(branch) and not branch.args.get("distinct") and not branch.args.get("order")
        if simple:
            selects.append(_aliased(branch, columns))
            continue
        sub = f"{name}__b{position}"
        stages.extend(_plan_query(sub, branch, columns, schema))
        selects.append(exp.select(*[exp.alias_(column(c, sub), ident(c)) for c in columns])
                       .from_(internal_table(sub, sub)))
    return stages + [_spj(name, selects, columns)]


def _distinct_over(name: str, source: str, columns: Sequence[str]) -> AggregateStage:
    keys = tuple(column(c, "__core") for c in columns)
    select = exp.select(*[exp.alias_(k.copy(), ident(c)) for k, c in zip(keys, columns)]) \
        .from_(internal_table(source, "__core")).group_by(*[k.copy() for k in keys])
    return AggregateStage(name=name, columns=tuple(columns), inputs=(source,), source=source,
                          select=select, keys=keys)


def _plan_aggregate(name: str, select: exp.Select, columns: Sequence[str], schema: Schema) -> list[Stage]:
    """Split ``select`` into an SPJ input stage with the columns it reads and the aggregate over it."""
    select = select.copy()
    if select.args.get("distinct"):
        select.set("distinct", None)
        # a bare integer in GROUP BY is a position; cast literals so they stay values
        select = select.group_by(*[group_value(e.unalias().copy()) for e in select.expressions])
    source = f"{name}__input"
    core_names: dict[tuple[str, str], str] = {}
    readers = [*select.expressions, select.args.get("group"), select.args.get("having"), select.args.get("order")]
    for part in readers:
        for col in (part.find_all(exp.Column) if part is not None else ()):
            key = (col.table, col.name)
            if key not in core_names:
                core_names[key] = unique(f"{col.table}__{col.name}", core_names.values())
    core_select = select.copy()
    for arg in ("group", "having", "order", "distinct"):
        core_select.set(arg, None)
    core_select.set("expressions", [exp.alias_(column(n, t), ident(c)) for (t, n), c in core_names.items()]
                    or [exp.alias_(exp.Literal.number(1), ident("__one"))])
    core_columns = list(core_names.values()) or ["__one"]
    core = _spj(source, [core_select], core_columns)

    def to_core(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and (node.table, node.name) in core_names:
            return column(core_names[(node.table, node.name)], "__core")
        return node

    outer = select.transform(to_core)
    outer.set("joins", None)
    outer.set("where", None)
    outer.set("from_", exp.From(this=internal_table(source, "__core")))
    group = outer.args.get("group")
    keys = tuple(k.copy() for k in group.expressions) if group else ()
    relation_of = {t.alias_or_name: t.name for t in _tables(select)}
    core_types = {c: column_type(schema, relation_of.get(t, ""), n) for (t, n), c in core_names.items()}
    state, outputs = subtractive_state(outer, keys, core_types) if not _coarse_keys(select, schema) else ((), ())
    stage = AggregateStage(name=name, columns=tuple(columns), inputs=(source,), source=source,
                           select=outer, keys=keys, state=state, outputs=outputs)
    return [core, stage]


def _coarse_keys(select: exp.Select, schema: Schema) -> bool:
    """Whether a GROUP BY key of ``select`` puts values that look different into one group: a collation
    (``'a'`` and ``'A'`` under NOCASE), an INTERVAL (``1 month`` and ``30 days``) or a float (-0.0 and 0.0). The group shows one of
    them, which must come from a row still there: subtracting in place would keep showing the first value
    after its rows left, so such groups are recomputed instead."""
    group = select.args.get("group")
    keys = list(group.expressions) if group else []
    if not keys:
        return False
    if any(k.find(exp.Collate) for k in keys):
        return True
    probe = select.copy()
    for arg in ("group", "having", "order", "distinct", "limit", "offset", "qualify"):
        probe.set(arg, None)
    probe.set("expressions", [exp.alias_(k.copy(), ident(f"__k{i}")) for i, k in enumerate(keys)])
    types = duckdb_types(probe, schema)
    if types is None:  # unknown: an INTERVAL or collated column of a relation it reads still tells
        reads = {t.name.lower() for t in select.find_all(exp.Table)}
        types = {c: typ for name in reads for c, typ in schema.get(name, {}).items()}
    return any(word in typ.upper() for typ in types.values() for word in _COARSE_TYPES)


_COARSE_TYPES = ("INTERVAL", "COLLATE", "DOUBLE", "FLOAT", "REAL")  # floats: -0.0 and 0.0 are one key
