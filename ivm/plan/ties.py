"""Break ties in the orders a view picks rows by, so that the view has one answer, not several.

``ORDER BY n DESC LIMIT 10`` over counts that tie at the tenth place, ``row_number() OVER (PARTITION BY c
ORDER BY day)`` with two orders on a day, ``string_agg(x, ',' ORDER BY y)`` with equal ``y``: the SQL allows
any of the tied rows, and DuckDB picks whichever its parallel scan met first. The maintained view, a
recompute and ``ivm verify``'s fresh run would each pick their own, so a correct view failed ``verify`` right
after deploy, and an incremental update and a recompute gave different training rows.

:func:`break_ties` refines each such order with keys that leave only rows indistinguishable in the result
tied; every refined answer is one of the answers the user's SQL allows, and always the same one:

* a top-k (ORDER BY .. LIMIT/OFFSET, also of a set operation) and DISTINCT ON: then every output column,
  ascending, NULLs last (what :mod:`ivm.delta.topk` keeps);
* ``row_number``, ``ntile``, ``lag``, ``lead``, ``first_value`` (frames from the partition's start), and any
  window function over a ROWS frame: then the GROUP BY keys of an aggregating SELECT (one row per group), or
  every column of the SELECT's own tables that its output, QUALIFY or ORDER BY reads (two rows equal on all of
  them give the same output rows whichever comes first). Frames by RANGE or GROUPS count peers, which more keys
  would split, so ``last_value``/``nth_value`` and running aggregates over them are left as they are;
* aggregates with their own ORDER BY (``string_agg``, ``list``, ``first``): then the aggregated value;
  ``arg_max(x, y)``/``arg_min`` (``max_by``/``min_by``): by ``y``, then ``x``.

``mode`` has no order to refine; its ties remain (README, Known limits).

An ASOF JOIN pairs a row with any one of the partners that tie on the columns its ON compares; its right side
keeps the first row of each such tie (:func:`asof_ties_broken`, run by the normaliser before the query is
split into stages).
"""
from __future__ import annotations

from typing import Mapping

from sqlglot import exp

from ivm.errors import IvmError
from ivm.plan.lateral import relations_of
from ivm.plan.order import ORDERED_WINDOW_FUNCTIONS, TRANSPARENT
from ivm.sql import DIALECT, column, ident, is_asof

Schema = Mapping[str, Mapping[str, str]]

_RANK_LIKE = (exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist)
_PEER_FRAMED = (exp.LastValue, exp.NthValue)  # their value reads the frame's end: peers matter


def break_ties(query: exp.Query) -> int:
    """Refine, in place, every tie-prone order in the qualified ``query``; returns how many were refined.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one('SELECT "t"."k" AS "k", COUNT(*) AS "n" FROM "t" AS "t" GROUP BY "t"."k" '
        ...                       'ORDER BY "n" DESC LIMIT 3', read="duckdb")
        >>> break_ties(q), q.sql("duckdb")
        (1, 'SELECT "t"."k" AS "k", COUNT(*) AS "n" FROM "t" AS "t" GROUP BY "t"."k" ORDER BY "n" DESC, "k" LIMIT 3')
    """
    refined = 0
    for node in list(query.find_all(exp.Query)):
        if isinstance(node, exp.Select):
            refined += _windows(node) + _top_k(node) + _ordered_aggregates(node)
        elif isinstance(node, exp.SetOperation):
            refined += _set_operation_top_k(node)
    return refined


def _append(order: exp.Order, keys: list[exp.Expression | None], aliases: list[str | None] | None = None,
            constant: list[exp.Expression] = ()) -> int:
    """Append ``keys`` (ascending, NULLs last, without a COLLATE that would keep 'a' and 'A' tied) that the
    order does not hold yet, by their text or (an output column) by its alias among the user's own keys, and
    that are not ``constant`` (a window's PARTITION BY); 1 if any was."""
    own = {_text(item.this) for item in order.expressions}
    present = own | {_text(c) for c in constant}
    added = 0
    for key, alias in zip(keys, aliases or [None] * len(keys)):
        if key is None:
            continue
        while isinstance(key, exp.Collate):
            key = key.this
        by_alias = _text(exp.column(exp.to_identifier(alias, quoted=True))) if alias else None
        if _text(key) in present or by_alias in own:
            continue
        present.add(_text(key))
        order.append("expressions", exp.Ordered(this=key.copy(), nulls_first=False))
        added = 1
    return added


def _text(node: exp.Expression) -> str:
    return node.sql(dialect=DIALECT).lower()


def _output_keys(select: exp.Select) -> list[exp.Expression | None] | None:
    """The output columns of ``select`` as ORDER BY keys: by their alias (the top-k stage then sorts by the
    column it keeps anyway), or, where two share a name, by the expression itself (valid under DISTINCT and
    GROUP BY alike); None for a constant, which tells no rows apart (and an integer would name a position)."""
    names = [item.alias.lower() for item in select.expressions if item.alias]
    keys = []
    for item in select.expressions:
        value = item.this if isinstance(item, exp.Alias) else item
        if isinstance(value, exp.Star) or isinstance(value, exp.Column) and isinstance(value.this, exp.Star):
            return None
        if not value.find(exp.Column, exp.AggFunc, exp.Window, exp.Query, exp.Anonymous):
            keys.append(None)
        elif item.alias and names.count(item.alias.lower()) == 1:
            keys.append(exp.column(exp.to_identifier(item.alias, quoted=True)))
        elif value.find(exp.Window, exp.Query):
            return None
        else:
            keys.append(value)
    return keys


def _top_k(select: exp.Select) -> int:
    order = select.args.get("order")
    distinct = select.args.get("distinct")
    picks = select.args.get("limit") is not None or select.args.get("offset") is not None \
        or (distinct is not None and distinct.args.get("on") is not None)
    if order is None or not picks:
        return 0
    keys = _output_keys(select)
    return _append(order, keys, [item.alias or None for item in select.expressions]) if keys is not None else 0


def _set_operation_top_k(node: exp.SetOperation) -> int:
    order = node.args.get("order")
    if order is None or (node.args.get("limit") is None and node.args.get("offset") is None):
        return 0
    first = node
    while isinstance(first, (exp.SetOperation, exp.Subquery)):
        first = first.this
    if not isinstance(first, exp.Select) or not first.named_selects or "*" in first.named_selects:
        return 0
    return _append(order, [exp.column(exp.to_identifier(n, quoted=True)) for n in first.named_selects])


def _tie_prone(window: exp.Window) -> bool:
    """Whether rows tied on the window's ORDER BY can change its values, and more keys cannot change its
    frame: only the order inside a ROWS frame, or a frame that starts at the partition's start, and never
    a frame that excludes the current row's peers (EXCLUDE TIES / GROUP: their meaning is the ties) or a
    RANGE frame with an offset (DuckDB allows it one ORDER BY key)."""
    function = window.this
    while isinstance(function, TRANSPARENT):
        function = function.this
    order = window.args.get("order")
    if order is None or not order.expressions or isinstance(function, _RANK_LIKE):
        return False
    spec = window.args.get("spec")
    if spec is not None:
        kind = str(spec.args.get("kind") or "").upper()
        exclude = spec.args.get("exclude")
        if exclude is not None and exclude.name.upper() in ("TIES", "GROUP"):
            return False
        if kind in ("RANGE", "GROUPS") and any(_offset(spec.args.get(end)) for end in ("start", "end")):
            return False  # the offset counts values or peer groups, which more keys would change
        if kind == "ROWS":
            return True
    if isinstance(function, exp.FirstValue):
        return spec is None or str(spec.args.get("start") or "").upper() == "UNBOUNDED"
    return isinstance(function, ORDERED_WINDOW_FUNCTIONS) and not isinstance(function, _PEER_FRAMED)


def _offset(bound) -> bool:
    """A frame bound that is a distance (``1 PRECEDING``), not UNBOUNDED or CURRENT ROW (which sqlglot keeps
    as text)."""
    return isinstance(bound, exp.Expression) or isinstance(bound, str) and bound.upper() not in ("UNBOUNDED",
                                                                                               "CURRENT ROW", "")


def _windows(select: exp.Select) -> int:
    windows = [w for w in _own(select, exp.Window) if _tie_prone(w)]
    if not windows:
        return 0
    keys = _row_keys(select)
    if not keys:
        return 0
    return sum(_append(w.args["order"], keys, constant=w.args.get("partition_by") or []) for w in windows)


def _row_keys(select: exp.Select) -> list[exp.Expression] | None:
    """Keys that tell apart the rows a window of ``select`` numbers, as far as its result can tell them apart."""
    group = select.args.get("group")
    if group is not None:
        if any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup")) \
                or any(isinstance(e, (exp.Rollup, exp.Cube, exp.GroupingSets)) for e in group.expressions):
            return None
        return [e for e in group.expressions if not isinstance(e, exp.Literal)] or None
    if _aggregates(select):
        return None  # one row: nothing to tie with
    tables = _own_tables(select)
    seen: dict[str, exp.Column] = {}
    for part in (*select.expressions, select.args.get("qualify"), select.args.get("order")):
        if part is None:
            continue
        for col in part.find_all(exp.Column):
            if col.table in tables and not col.args.get("db") and not isinstance(col.this, exp.Star) \
                    and _reads_row_of(col, select):
                seen.setdefault(_text(col), col)
    return [seen[k] for k in sorted(seen)] or None


def _reads_row_of(col: exp.Column, select: exp.Select) -> bool:
    """Whether ``col`` reads a row of ``select``'s own tables: it sits in ``select`` itself, or in a subquery
    of it (correlated) whose SELECTs on the way up define no table of that name."""
    scope = _owner(col)
    while scope is not None and scope is not select:
        if col.table in _own_tables(scope):
            return False
        scope = _owner(scope)
    return scope is select


def _own_tables(select: exp.Select) -> set[str]:
    return {s.alias_or_name for s in relations_of(select) if s.alias_or_name}


def _aggregates(select: exp.Select) -> bool:
    return any(not agg.find_ancestor(exp.Window) for item in select.expressions
               for agg in item.find_all(exp.AggFunc) if _owner(agg) is select)


def _own(select: exp.Select, kind) -> list[exp.Expression]:
    return [node for node in select.find_all(kind) if _owner(node) is select]


def _owner(node: exp.Expression) -> exp.Expression | None:
    return node.find_ancestor(exp.Select)


def _ordered_aggregates(select: exp.Select) -> int:
    refined = 0
    for agg in _own(select, exp.AggFunc):
        order = agg.this
        if isinstance(order, exp.Order) and order.this is not None and order.expressions:
            values = order.this.expressions if isinstance(order.this, exp.Distinct) else [order.this]
            refined += _append(order, list(values))
        elif isinstance(agg, (exp.ArgMax, exp.ArgMin)) and agg.this is not None and agg.expression is not None \
                and not _refined_by(agg.expression):
            agg.set("expression", _by_value_then_result(agg.expression, agg.this))
            refined += 1
    return refined


def _by_value_then_result(by: exp.Expression, result: exp.Expression) -> exp.Expression:
    """``arg_max(x, y)`` picks any row with the largest ``y``; ordering by ``(y, x)`` picks the one with the
    largest ``x`` among them (NULL ``y`` still skipped: a STRUCT holding a NULL would not be)."""
    pair = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(_BY), expression=by.copy()),
                                   exp.PropertyEQ(this=exp.to_identifier(_THEN), expression=result.copy())])
    return exp.Case(ifs=[exp.If(this=exp.Is(this=by.copy(), expression=exp.Null()), true=exp.Null())], default=pair)


_BY, _THEN = "__ivm_by", "__ivm_then"


def _refined_by(node: exp.Expression) -> bool:
    default = node.args.get("default") if isinstance(node, exp.Case) else None
    return isinstance(default, exp.Struct) and [e.this.name for e in default.expressions] == [_BY, _THEN]


def asof_ties_broken(query: exp.Query, schema: Schema) -> exp.Query:
    """The right side of each ``ASOF JOIN ... ON`` as one row per value of the expressions its condition
    compares (the first in the order of all its columns): DuckDB pairs a row with any one of the rows that tie
    there, so a view over such ties had several answers, and rows re-evaluated after a deletion could pick
    other partners than a recompute. Now it keeps one of its answers, always the same one (see Determinism in
    the README); the derived table becomes a window stage, maintained by the partitions a change touches.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one('SELECT e.k, p.v FROM e AS e ASOF JOIN p AS p ON e.k = p.k AND e.t >= p.t')
        >>> asof_ties_broken(q, {"p": {"k": "INT", "t": "INT", "v": "INT"}}).sql("duckdb")[28:]
        'ASOF JOIN (SELECT "p"."k" AS "k", "p"."t" AS "t", "p"."v" AS "v" FROM p AS p QUALIFY ROW_NUMBER() OVER (PARTITION BY p.k, p.t ORDER BY "p"."k", "p"."t", "p"."v") = 1) AS "p" ON e.k = p.k AND e.t >= p.t'
    """
    for join in reversed(list(query.find_all(exp.Join))):  # inner ones first: an outer one copies its right side
        on = join.args.get("on")
        if not is_asof(join) or on is None:
            continue
        right = join.this
        alias = right.alias_or_name
        names = _relation_columns(right, schema)
        conjuncts = [c.unnest() for c in on.unnest().flatten()] if isinstance(on.unnest(), exp.And) else [on.unnest()]
        keys = []
        for conjunct in conjuncts:  # every column the ON compares on the right side must partition the ties
            right_sides = [side for side in (conjunct.this, conjunct.expression)
                           if side is not None and side.find(exp.Column)
                           and all(col.table == alias for col in side.find_all(exp.Column))] \
                if isinstance(conjunct, _ASOF_COMPARISONS) else []
            if len(right_sides) != 1 or conjunct.find(exp.Query):
                raise IvmError(f"an ASOF JOIN ON with {conjunct.sql(dialect=DIALECT)[:60]} (not a comparison of a "
                               "column of each side) has no delta rule yet")
            keys.append(right_sides[0])
        if not names or not alias:
            raise IvmError(f"ASOF JOIN of {right.sql(dialect=DIALECT)[:60]}, whose columns are not known, has no "
                           "delta rule yet")
        window = exp.Window(this=exp.RowNumber(), partition_by=[k.copy() for k in keys],
                            order=exp.Order(expressions=[exp.Ordered(this=column(n, alias)) for n in names]))
        inner = exp.select(*[exp.alias_(column(n, alias), ident(n)) for n in names]).from_(right.copy())
        inner.set("qualify", exp.Qualify(this=exp.EQ(this=window, expression=exp.Literal.number(1))))
        join.set("this", exp.Subquery(this=inner, alias=exp.TableAlias(this=ident(alias))))
    return query


_ASOF_COMPARISONS = (exp.EQ, exp.NullSafeEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _relation_columns(relation: exp.Expression, schema: Schema) -> list[str]:
    """The output column names of a table (of ``schema``, or a CTE) or derived table; [] when unknown."""
    if isinstance(relation, exp.Subquery):
        return list(relation.this.named_selects) if isinstance(relation.this, exp.Query) else []
    if not isinstance(relation, exp.Table):
        return []
    node = relation.parent
    while node is not None:  # a CTE of this name in reach shadows the table (WITH on a SELECT or a UNION)
        with_ = node.args.get("with_") or node.args.get("with") if isinstance(node, exp.Query) else None
        for cte in (with_.expressions if with_ else []):
            if cte.alias_or_name.lower() == relation.name.lower() and not relation.args.get("db"):
                return list(cte.this.named_selects)
        node = node.parent
    found = {k.lower(): v for k, v in schema.items()}.get(relation.name.lower())
    return list(found) if found else []
