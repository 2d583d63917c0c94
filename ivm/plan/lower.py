"""Lowering: split a SELECT the basic planner cannot maintain into stages it, or a rule of ours, can.

A query is peeled in SQL's logical order, from the outside in; every peeled layer becomes a stage reading
the stage planned for the rest (which may be peeled again):

1. ``ORDER BY ... LIMIT/OFFSET`` becomes a :class:`TopKStage` over the rest.
2. ``DISTINCT`` over anything but plain select-project-join becomes DISTINCT over a stage of the rest.
3. Window functions and ``QUALIFY`` become a :class:`PartitionStage` keyed by the common PARTITION BY.
4. An aggregate with subqueries outside its aggregates (HAVING ... > (SELECT ...)) becomes a per-row stage
   over the aggregate; one whose rows need outer joins or subqueries aggregates a per-row stage. GROUPING
   SETS / ROLLUP / CUBE aggregate a stage of their rows too, one aggregate stage per grouping set.
5. What is left (outer joins, subqueries in WHERE and SELECT) becomes a :class:`PerRowStage`: each output
   row holds one row of a *driver* table, everything else is a lookup with a *probe* saying which driver
   rows a changed lookup row can reach. Inner joins before the first outer join become an SPJ stage first,
   uncorrelated subqueries with aggregates, joins or set operations become stages of their own, and FULL
   joins split into a LEFT-join branch and a branch for the unmatched right rows.

INTERSECT and EXCEPT (set and ALL) become a :class:`PartitionStage` keyed by every column.

Every function returns None for shapes it does not handle; the caller then keeps its recompute fallback.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, build_scope

from ivm.errors import IvmError
from ivm.plan.nodes import (KeyedScan, Lookup, OrderKey, PartitionStage, PerRowStage, RowBranch, Scan, Stage,
                            TopKStage)
from ivm.plan.column_types import column_type, duckdb_types
from ivm.plan.state import unknown_aggregate
from ivm.sql import DIALECT, RID, and_all, column, group_value, ident, inside, internal_table, is_asof

Schema = Mapping[str, Mapping[str, str]]
Planner = Callable[[str, exp.Query, "list[str] | None", Schema], "list[Stage]"]

PROBE = "__ivm_probe"  # the table standing for the changed rows of a lookup in a probe query
MAX_FULL_JOINS = 4


# ---------------------------------------------------------------------------------------------------------
# Small helpers


def _build():
    from ivm.plan import build  # build imports this module lazily; import it back the same way
    return build


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    return [condition]


def _subqueries_in(node: exp.Expression | None) -> bool:
    """Whether ``node`` holds a subquery expression (EXISTS, IN (SELECT), scalar)."""
    return node is not None and node.find(exp.Select) is not None


def _int_literal(node: exp.Expression | None) -> int | None | bool:
    """The integer of a LIMIT/OFFSET clause; None when absent; False when not a plain integer."""
    if node is None:
        return None
    value = node.args.get("expression") if isinstance(node, (exp.Limit, exp.Offset)) else node
    if isinstance(value, exp.Literal) and value.is_int and int(value.this) >= 0:
        return int(value.this)
    return False


def _is_window_function(node: exp.Expression) -> bool:
    parent = node.parent
    if isinstance(parent, (exp.Filter, exp.IgnoreNulls, exp.RespectNulls)) and node.arg_key == "this":
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Window) and node.arg_key == "this"


def _is_aggregate(select: exp.Select) -> bool:
    """GROUP BY, HAVING, or an aggregate of this SELECT's own (not a window's, not a subquery's)."""
    if select.args.get("group") is not None or select.args.get("having") is not None:
        return True
    for item in select.expressions:
        for agg in item.find_all(exp.AggFunc, exp.Anonymous):
            if (isinstance(agg, exp.AggFunc) or unknown_aggregate(agg)) and agg.find_ancestor(exp.Select) is select \
                    and not agg.find_ancestor(exp.Window):
                return True
    return False


AGG_WRAPPERS = (exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls)


def _grouped_value(node: exp.Expression, select: exp.Select, group_sql: set[str], own: set[int]) -> bool:
    """``node`` is computed by ``select``'s aggregate: one of its GROUP BY expressions over its own columns,
    or one of its own aggregate calls; such values move into the stage below as a whole."""
    columns_in = list(node.find_all(exp.Column))
    if (node.sql(dialect=DIALECT) in group_sql and columns_in and all(id(c) in own for c in columns_in)
            and not isinstance(node, exp.Literal)):
        return True
    return bool(_own_aggregate(node, select))


def _own_aggregate(node: exp.Expression, select: exp.Select) -> bool:
    """``node`` is one aggregate of ``select`` (with its FILTER / WITHIN GROUP / IGNORE NULLS), not a
    window function and not an aggregate of a subquery."""
    def aggregate(candidate: exp.Expression) -> bool:  # also one sqlglot does not know (PRODUCT, FSUM, ...)
        return isinstance(candidate, exp.AggFunc) or unknown_aggregate(candidate)

    if isinstance(node, AGG_WRAPPERS) and aggregate(node.this):
        agg = node.this
    elif aggregate(node) and not (isinstance(node.parent, AGG_WRAPPERS) and node.arg_key == "this"):
        agg = node
    else:
        return False
    return agg.find_ancestor(exp.Select) is select and not _is_window_function(agg)


def _root_scope(select: exp.Select) -> Scope | None:
    try:
        return build_scope(select)
    except (SqlglotError, KeyError, ValueError):
        return None


def _with_types(schema: Schema, stage: str, select: exp.Select, columns: Sequence[str]) -> dict:
    """``schema`` plus the columns of an intermediate stage: a plain column copy has its column's type, a
    computed one the type DuckDB gives it."""
    relation_of = {t.alias_or_name: t.name for t in _build()._tables(select) if isinstance(t, exp.Table)}
    types = {}
    for item, name in zip(select.expressions, columns):
        value = item.unalias() if isinstance(item, exp.Alias) else item
        typ = "UNKNOWN"
        if isinstance(value, exp.Column) and value.table in relation_of:
            typ = column_type(schema, relation_of[value.table], value.name)
        types[name] = typ
    if "UNKNOWN" in types.values():  # computed columns: as DuckDB types them
        typed = _build()._stage_types(select, list(types), schema)
        types = {name: typ if typ != "UNKNOWN" else typed[name] for name, typ in types.items()}
    result = dict(schema)
    result[stage] = types
    return result


class _Extractor:
    """Moves sub-expressions of an outer layer into the select list of the layer below it.

    Each distinct expression (by its SQL) becomes one column ``prefix<n>`` of the lower layer, and the
    outer layer reads it as ``alias.prefix<n>``."""

    def __init__(self, prefix: str, alias: str):
        self.prefix, self.alias = prefix, alias
        self.names: dict[str, str] = {}
        self.expressions: list[tuple[str, exp.Expression]] = []

    def __call__(self, node: exp.Expression) -> exp.Column:
        value = _unaliased(node)  # a select item's subquery holds its alias: spelled as in GROUP BY
        key = value.sql(dialect=DIALECT)
        if key not in self.names:
            name = f"{self.prefix}{len(self.names)}"
            self.names[key] = name
            self.expressions.append((name, value))
        return column(self.names[key], self.alias)

    def select_items(self) -> list[exp.Expression]:
        items = [exp.alias_(e, ident(n)) for n, e in self.expressions]
        return items or [exp.alias_(exp.Literal.number(1), ident(f"{self.prefix}one"))]

    def columns(self) -> list[str]:
        return [n for n, _ in self.expressions] or [f"{self.prefix}one"]


def _rewrite(node: exp.Expression, visit) -> exp.Expression:
    """Top-down rewrite in place: ``visit`` returns a replacement (children are not visited) or None."""
    replacement = visit(node)
    if replacement is not None:
        if node.parent is not None:
            node.replace(replacement)
        return replacement
    for child in list(node.iter_expressions()):
        _rewrite(child, visit)
    return node


# ---------------------------------------------------------------------------------------------------------
# Entry points


def lower_select(name: str, select: exp.Select, columns: Sequence[str], schema: Schema,
                 plan: Planner) -> list[Stage] | str | None:
    """Stages for ``select`` (qualified, reading internal tables), or why it stays a recompute stage
    (None: for the caller's reason)."""
    build = _build()
    unsupported = _unsupported(select)
    if unsupported != "":
        return unsupported
    if len(select.expressions) != len(columns):
        return None
    if select.args.get("limit") is not None or select.args.get("offset") is not None:
        return _top_k(name, select, columns, schema, plan)
    select = _group_by_expressions(build._aliased(select, columns), columns)
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        select = _distinct_on_as_window(select, columns)
        if select is None:
            return None
        distinct = None
    select.set("order", None)
    if distinct is not None:
        inner = select.copy()
        inner.set("distinct", None)
        source = f"{name}__all"
        return [*plan(source, inner, list(columns), schema), build._distinct_over(name, source, columns)]
    if select.find(exp.Window) or select.args.get("qualify") is not None:
        return _windows(name, select, columns, schema, plan)
    if _is_aggregate(select):
        return _aggregate(name, select, columns, schema, plan)
    return _per_row(name, select, columns, schema, plan)


def lower_set_operation(name: str, query: exp.Query, columns: Sequence[str], schema: Schema,
                        plan: Planner) -> list[Stage] | None:
    """INTERSECT / EXCEPT (set or ALL) as a partition stage keyed by every column; LIMIT on any set
    operation as a top-k stage over it."""
    if not isinstance(query, (exp.Union, exp.Intersect, exp.Except)) or query.args.get("by_name"):
        return None
    if query.args.get("limit") is not None or query.args.get("offset") is not None:
        return _top_k(name, query, columns, schema, plan)
    if isinstance(query, exp.Union):
        return None  # the caller plans UNION itself; ORDER BY without LIMIT is dropped there
    stages: list[Stage] = []
    sides, conversions = [], []
    unified = _positional_types(query, schema)
    for position, side in enumerate((query.left, query.right)):
        if isinstance(side, exp.Subquery):
            side = side.this
        side = side.copy()
        if isinstance(side, exp.Select) and side.args.get("order") is not None and side.args.get("limit") is None \
                and side.args.get("offset") is None:
            side.set("order", None)
        source = f"{name}__b{position}"
        stages.extend(plan(source, side, list(columns), schema))
        sides.append(source)
        # DuckDB compares the sides in their common type (INTEGER 10 EXCEPT VARCHAR '10' is '10'): a side of
        # another type is keyed and read cast to it, or matching its keys with the other side's would cast
        # the other way ('x' to INTEGER) and fail
        own = _positional_types(side, schema)
        conversions.append([unified[i] if unified and own and len(own) == len(unified) == len(columns)
                            and own[i] != unified[i] else None for i in range(len(columns))])
    aliases = ("__l", "__r")

    def side_columns(position: int) -> list[exp.Expression]:
        """The side's columns, each cast to the common type where its own differs."""
        alias = aliases[position]
        return [exp.cast(column(c, alias), target) if target else column(c, alias)
                for c, target in zip(columns, conversions[position])]

    def branch(position: int) -> exp.Select:
        return exp.select(*[exp.alias_(e, ident(c)) for e, c in zip(side_columns(position), columns)]).from_(
            internal_table(sides[position], aliases[position]))

    kind = type(query)
    operation = kind(this=branch(0), expression=branch(1),
                     distinct=bool(query.args.get("distinct")))
    body = exp.select(*[column(c, "__s") for c in columns],
                      *[exp.alias_(column(c, "__s"), ident(f"__ivm_p{i}")) for i, c in enumerate(columns)]) \
        .from_(exp.Subquery(this=operation, alias=exp.TableAlias(this=ident("__s"))))
    scans = tuple(KeyedScan(relation=s, alias=a, keys=tuple(side_columns(position)))
                  for position, (s, a) in enumerate(zip(sides, aliases)))
    what = f"{kind.__name__.upper()}{'' if query.args.get('distinct') else ' ALL'}"
    stage = PartitionStage(name=name, columns=tuple(columns), inputs=tuple(sorted(set(sides))), query=body,
                           scans=scans, key_count=len(columns), what=what)
    return stages + [stage]


def _positional_types(query: exp.Query, schema: Schema) -> list[str] | None:
    """DuckDB's types of ``query``'s output columns, by position (None if unknown)."""
    typed = duckdb_types(query, schema)
    return list(typed.values()) if typed is not None else None


def _group_by_expressions(select: exp.Select, columns: Sequence[str]) -> exp.Select:
    """GROUP BY positions and output aliases replaced by the expressions they name, so layers may reshape
    the select list (an integer literal stays a value: it is cast)."""
    group = select.args.get("group")
    if group is None:
        return select
    values = [e.unalias() if isinstance(e, exp.Alias) else e for e in select.expressions]
    by_name = {c.lower(): v for c, v in zip(columns, values)}
    keys = []
    for key in group.expressions:
        if isinstance(key, exp.Literal) and key.is_int and 1 <= int(key.this) <= len(values):
            key = values[int(key.this) - 1]
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in by_name:
            key = by_name[key.name.lower()]
        keys.append(group_value(key.copy()))
    select = select.copy()
    select.set("group", exp.Group(expressions=keys))
    return select


def _distinct_on_as_window(select: exp.Select, columns: Sequence[str]) -> exp.Select | None:
    """``SELECT DISTINCT ON (e) ... ORDER BY o`` as ``... QUALIFY ROW_NUMBER() OVER (PARTITION BY e
    ORDER BY o) = 1`` (aliases and positions resolved to the select expressions)."""
    values = {c.lower(): (e.unalias() if isinstance(e, exp.Alias) else e) for e, c in zip(select.expressions, columns)}
    positions = [e.unalias() if isinstance(e, exp.Alias) else e for e in select.expressions]

    def resolve(node: exp.Expression) -> exp.Expression | None:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in values:
            return values[node.name.lower()].copy()
        if isinstance(node, exp.Literal) and node.is_int and 1 <= int(node.this) <= len(positions) \
                and node.parent is not None and isinstance(node.parent, (exp.Ordered, exp.Tuple)):
            return positions[int(node.this) - 1].copy()
        return None

    on = select.args["distinct"].args["on"]
    parts = on.expressions if isinstance(on, exp.Tuple) else [on]
    parts = [_rewrite(exp.Tuple(expressions=[p.copy()]), resolve).expressions[0] for p in parts]
    order = select.args.get("order")
    ordered = [_rewrite(o.copy(), resolve) for o in (order.expressions if order is not None else [])]
    window = exp.Window(this=exp.RowNumber(), partition_by=parts,
                        order=exp.Order(expressions=ordered) if ordered else None)
    result = select.copy()
    result.set("distinct", None)
    result.set("order", None)
    if result.args.get("qualify") is not None:
        return None
    result.set("qualify", exp.Qualify(this=exp.EQ(this=window, expression=exp.Literal.number(1))))
    return result


def _unsupported(select: exp.Select) -> str | None:
    """Why ``select`` is outside what these rules handle (then it stays a recompute stage), or None."""
    if select.args.get("from_") is None:
        return None  # a SELECT without FROM: the caller's reason says so
    if select.args.get("windows"):
        return "named windows (WINDOW w AS ...) have no delta rule yet; write the window inside OVER (...)"
    if select.find(exp.Unnest, exp.Lateral, exp.TableSample):
        return None
    build = _build()
    for node in select.find_all(exp.Select):  # the tables of subqueries must be tables too
        for table in build._tables(node):
            if not isinstance(table, exp.Table) or not table.args.get("db"):
                return None
    for join in select.args.get("joins") or []:
        kind, method = (join.kind or "").upper(), (join.args.get("method") or "").upper()
        asof = method == "ASOF" and (join.side or "").upper() in ("", "LEFT") and join.args.get("on") is not None
        if kind not in ("", "INNER", "OUTER", "CROSS") or join.args.get("using") or (method and not asof):
            return f"{kind or method or 'this'} JOIN has no delta rule yet"
    return ""


# ---------------------------------------------------------------------------------------------------------
# 1. ORDER BY ... LIMIT k OFFSET m


def _top_k(name: str, query: exp.Query, columns: Sequence[str], schema: Schema, plan: Planner) -> list[Stage] | None:
    build = _build()
    limit, offset = _int_literal(query.args.get("limit")), _int_literal(query.args.get("offset"))
    if limit is False or offset is False:
        return None
    if isinstance(query.args.get("limit"), exp.Limit) and query.args["limit"].args.get("percent"):
        return None
    order = query.args.get("order")
    inner = query.copy()
    for arg in ("order", "limit", "offset"):
        inner.set(arg, None)
    if isinstance(inner, exp.Select):
        inner = build._aliased(inner, columns)
        if inner.args.get("distinct") is not None and inner.args["distinct"].args.get("on"):
            with_order = inner.copy()
            with_order.set("order", order.copy() if order is not None else None)
            inner = _distinct_on_as_window(with_order, columns)
            if inner is None:
                return None
    outputs = {c.lower(): c for c in columns}
    by_sql = {}
    first = query  # a set operation's items are named by its first branch's
    while isinstance(first, (exp.SetOperation, exp.Subquery)):
        first = first.this if isinstance(first, exp.Subquery) else first.left
    if isinstance(first, exp.Select):  # the names sqlglot gave the items (_col_2) name them too
        outputs.update({e.alias_or_name.lower(): c for e, c in zip(first.expressions, columns)
                        if isinstance(e, exp.Alias) and e.alias_or_name.lower() not in outputs})
    if isinstance(query, exp.Select):  # DISTINCT (x) ORDER BY x: an item in parentheses is ordered by unwrapped
        by_sql = {(e.unalias() if isinstance(e, exp.Alias) else e).unnest().sql(dialect=DIALECT): c
                  for e, c in zip(query.expressions, columns)}
    keys, hidden, computed = [], [], {}
    for ordered in (order.expressions if order is not None else []):
        target = ordered.this
        if isinstance(target, exp.Column) and not target.table and target.name.lower() in outputs:
            name_ = outputs[target.name.lower()]
        elif isinstance(target, exp.Literal) and target.is_int and 1 <= int(target.this) <= len(columns):
            name_ = columns[int(target.this) - 1]
        elif target.unnest().sql(dialect=DIALECT) in by_sql:
            name_ = by_sql[target.unnest().sql(dialect=DIALECT)]
        elif isinstance(inner, exp.Select) and not inner.args.get("distinct"):
            name_ = f"__ivm_o{len(hidden)}"
            hidden.append(name_)
            inner = inner.select(exp.alias_(_outputs_inlined(target, inner), ident(name_)), append=True)
        elif _over_outputs(target, outputs, by_sql):  # a set operation's or DISTINCT's ORDER BY k * -1
            name_ = f"__ivm_o{len(hidden)}"
            hidden.append(name_)
            computed[name_] = target
        else:
            return None
        keys.append(OrderKey(name=name_, desc=bool(ordered.args.get("desc")),
                             nulls_first=bool(ordered.args.get("nulls_first"))))
    all_columns = [*columns, *hidden]
    stages: list[Stage] = []
    if computed:  # keys computed by the top-k stage from the outputs its input stage keeps
        source, alias = f"{name}__sorted", "__t"
        stages.extend(plan(source, inner, list(columns), schema))
        on_outputs = {key: value.transform(lambda n: column(_output_of(n, outputs, by_sql), alias)
                                           if isinstance(n, exp.Column) else n) for key, value in computed.items()}
        select = exp.select(*[exp.alias_(column(c, alias), ident(c)) for c in columns],
                            *[exp.alias_(on_outputs[h], ident(h)) for h in hidden]).from_(internal_table(source, alias))
    elif isinstance(inner, exp.Select) and _plain_single_table(inner):
        source_table = inner.args["from_"].this
        source, alias, select = source_table.name, source_table.alias_or_name, inner
    else:
        source, alias = f"{name}__sorted", "__t"
        stages.extend(plan(source, inner, all_columns, schema))
        select = exp.select(*[exp.alias_(column(c, alias), ident(c)) for c in all_columns]).from_(
            internal_table(source, alias))
    stage = TopKStage(name=name, columns=tuple(columns), inputs=(source,), source=source, alias=alias,
                      select=select, hidden=tuple(hidden), order=tuple(keys), limit=limit, offset=offset or 0)
    return stages + [stage]


def _over_outputs(target: exp.Expression, outputs: Mapping[str, str], by_sql: Mapping[str, str]) -> bool:
    """Whether an ORDER BY expression reads only output columns (by name, or a DISTINCT's item by its
    expression), and nothing that would read the input rows: no subquery, window or aggregate."""
    names = list(target.find_all(exp.Column))
    return bool(names) and all(_output_of(c, outputs, by_sql) for c in names) \
        and not target.find(exp.Query, exp.Window, exp.AggFunc)


def _output_of(node: exp.Column, outputs: Mapping[str, str], by_sql: Mapping[str, str]) -> str | None:
    if not node.table and node.name.lower() in outputs:
        return outputs[node.name.lower()]
    return by_sql.get(node.sql(dialect=DIALECT))


def _outputs_inlined(target: exp.Expression, select: exp.Select) -> exp.Expression:
    """An ORDER BY expression as an item of ``select``: the output names it reads (unqualified after
    qualifying, ``userid % 7``) replaced by their items, which over a GROUP BY are its keys and aggregates
    (the output name itself would read a column of the input there)."""
    items = {e.alias.lower(): e.unalias() for e in select.expressions if isinstance(e, exp.Alias)}

    def inline(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in items:
            return items[node.name.lower()].copy()
        return node
    return target.copy().transform(inline)


def _plain_single_table(select: exp.Select) -> bool:
    return (not select.args.get("joins") and isinstance(select.args.get("from_").this if select.args.get("from_")
                                                         else None, exp.Table)
            and select.args["from_"].this.args.get("db") is not None
            and not _is_aggregate(select) and select.args.get("distinct") is None
            and not select.find(exp.Window) and select.args.get("qualify") is None
            and not any(n is not select for n in select.find_all(exp.Select)))


# ---------------------------------------------------------------------------------------------------------
# 3. Window functions and QUALIFY


def _windows(name: str, select: exp.Select, columns: Sequence[str], schema: Schema, plan: Planner) -> list[Stage] | None:
    select = select.copy()
    if _windows_over_one_table(select):  # read the table itself: no copy of it
        table = select.args["from_"].this
        windows = [w for item in select.expressions for w in item.find_all(exp.Window)]
        if select.args.get("qualify") is not None:
            windows += list(select.args["qualify"].find_all(exp.Window))
        keys = _common_partition(windows)
        body = select.select(*[exp.alias_(k.copy(), ident(f"__ivm_p{i}")) for i, k in enumerate(keys)], append=True)
        scan = KeyedScan(relation=table.name, alias=table.alias_or_name, keys=tuple(k.copy() for k in keys))
        return [PartitionStage(name=name, columns=tuple(columns), inputs=(table.name,), query=body, scans=(scan,),
                               key_count=len(keys), what="window")]
    scope = _root_scope(select)
    if scope is None:
        return None
    own = {id(c) for c in scope.columns if c.table}
    aggregate = _is_aggregate(select)
    group = select.args.get("group")
    group_sql = {g.sql(dialect=DIALECT) for g in (group.expressions if group is not None else [])}
    extract = _Extractor("__ivm_w", "__w")

    def visit(node: exp.Expression):
        if isinstance(node, exp.Window):
            return None
        if isinstance(node, (exp.Subquery, exp.Exists)) or (isinstance(node, exp.In) and node.args.get("query")):
            return extract(node)
        if aggregate and _grouped_value(node, select, group_sql, own):
            return extract(node)
        if isinstance(node, exp.Column) and id(node) in own:
            return extract(node)
        return None

    outer_items = []
    for item, name_ in zip(select.expressions, columns):
        value = item.unalias() if isinstance(item, exp.Alias) else item
        outer_items.append(exp.alias_(_rewrite(value.copy() if value.parent is None else value, visit), ident(name_)))
    qualify = select.args.get("qualify")
    qualify_condition = _rewrite(qualify.this, visit) if qualify is not None else None
    windows = [w for item in outer_items for w in item.find_all(exp.Window)]
    if qualify_condition is not None:
        windows += list(qualify_condition.find_all(exp.Window))
    keys = _common_partition(windows)
    inner = select.copy()
    inner.set("qualify", None)
    inner.set("expressions", extract.select_items())
    source = f"{name}__pre"
    stages = plan(source, inner, extract.columns(), _with_types(schema, source, inner, extract.columns()))
    body = exp.select(*outer_items, *[exp.alias_(k.copy(), ident(f"__ivm_p{i}")) for i, k in enumerate(keys)]) \
        .from_(internal_table(source, "__w"))
    if qualify_condition is not None:
        body.set("qualify", exp.Qualify(this=qualify_condition))
    stage = PartitionStage(name=name, columns=tuple(columns), inputs=(source,), query=body,
                           scans=(KeyedScan(relation=source, alias="__w", keys=tuple(k.copy() for k in keys)),),
                           key_count=len(keys), what="window")
    return stages + [stage]


def _windows_over_one_table(select: exp.Select) -> bool:
    source = select.args.get("from_")
    return (source is not None and isinstance(source.this, exp.Table) and source.this.args.get("db") is not None
            and not select.args.get("joins") and not _is_aggregate(select) and select.args.get("distinct") is None
            and not any(n is not select for n in select.find_all(exp.Select)))


def _common_partition(windows: list[exp.Window]) -> list[exp.Expression]:
    """PARTITION BY expressions every window shares (all rows of a partition of the stage share them)."""
    if not windows:
        return []
    common = None
    first = []
    for window in windows:
        parts = [p for p in (window.args.get("partition_by") or []) if p.find(exp.Column)]
        sqls = {p.sql(dialect=DIALECT) for p in parts}
        if common is None:
            common, first = sqls, parts
        else:
            common &= sqls
    seen, keys = set(), []
    for part in first:
        key = part.sql(dialect=DIALECT)
        if key in common and key not in seen:
            seen.add(key)
            keys.append(part)
    return keys


# ---------------------------------------------------------------------------------------------------------
# 4. Aggregates whose rows or HAVING need lowering


def _aggregate(name: str, select: exp.Select, columns: Sequence[str], schema: Schema, plan: Planner) -> list[Stage] | None:
    scope = _root_scope(select)
    if scope is None:
        return None
    group = select.args.get("group")
    keys = {key.sql(dialect=DIALECT) for key in group.expressions} if group is not None else set()
    outside = [item for item in select.expressions if _subquery_outside_aggregates(item, keys)]
    having = select.args.get("having")
    if outside or (having is not None and _subqueries_in(having)):
        return _after_aggregate(name, select, columns, schema, plan)
    return _before_aggregate(name, select, columns, schema, plan)


def _subquery_outside_aggregates(node: exp.Expression, keys: set[str] = frozenset()) -> bool:
    """Whether ``node`` has a subquery that must be evaluated per group (after the aggregate): one outside
    every aggregate and outside every part of ``node`` that is a GROUP BY key (by SQL). A key that holds a
    subquery (``GROUP BY (SELECT name FROM c WHERE c.id = o.cid)``) is evaluated per input row, before it."""
    for sub in node.find_all(exp.Select):
        if sub is node:
            continue
        agg = sub.find_ancestor(exp.AggFunc)
        if (agg is None or not inside(agg, node)) and not _inside_key(sub, node, keys):
            return True
    return False


def _unaliased(node: exp.Expression) -> exp.Expression:
    """A copy of ``node`` without the alias sqlglot keeps on a subquery itself (``(SELECT ..) AS nm``)."""
    node = node.copy()
    if isinstance(node, exp.Subquery):
        node.set("alias", None)
    return node


def _unaliased_sql(node: exp.Expression) -> str:
    return _unaliased(node).sql(dialect=DIALECT)


def _inside_key(inner: exp.Expression, outer: exp.Expression, keys: set[str]) -> bool:
    """Whether ``inner`` or one of its ancestors up to ``outer`` is spelled like a GROUP BY key."""
    while keys and inner is not None:
        if _unaliased_sql(inner) in keys:
            return True
        if inner is outer:
            return False
        inner = inner.parent
    return False


def _after_aggregate(name, select, columns, schema, plan) -> list[Stage] | None:
    """The aggregate without HAVING (plus the aggregates HAVING and subqueries read) as a stage; the
    subqueries and HAVING as a per-row stage over it."""
    select = select.copy()
    scope = _root_scope(select)
    if scope is None:
        return None
    own = {id(c) for c in scope.columns if c.table}
    group = select.args.get("group")
    group_sql = {g.sql(dialect=DIALECT) for g in (group.expressions if group is not None else [])}
    if group is not None and _build().has_grouping_sets(select):
        sets = _grouping_sets(group)
        keys = [key for chosen in sets or [] for key in chosen]
        if sets is None or any(key.find(exp.Column) is None for key in keys):
            return None  # a constant key: the stage above would evaluate it again instead of reading its NULL
        group_sql |= {text for key in keys for text in (key.sql(dialect=DIALECT), _key_text(key))}
    extract = _Extractor("__ivm_h", "__g")

    def visit(node: exp.Expression):
        if _grouped_value(node, select, group_sql, own) or (isinstance(node, exp.Column) and id(node) in own):
            return extract(node)
        return None

    items = []
    for item, name_ in zip(select.expressions, columns):
        value = item.unalias() if isinstance(item, exp.Alias) else item
        items.append(exp.alias_(_rewrite(value, visit), ident(name_)))
    having = select.args.get("having")
    condition = _rewrite(having.this, visit) if having is not None else None
    inner = select.copy()
    inner.set("having", None)
    inner.set("expressions", extract.select_items())
    source = f"{name}__groups"
    stages = plan(source, inner, extract.columns(), _with_types(schema, source, inner, extract.columns()))
    outer = exp.select(*items).from_(internal_table(source, "__g"))
    if condition is not None:
        outer = outer.where(condition)
    return stages + plan(name, outer, list(columns), schema)


def _before_aggregate(name, select, columns, schema, plan) -> list[Stage] | None:
    """The rows the aggregate reads (outer joins, subqueries in WHERE or inside aggregates) as a stage."""
    select = select.copy()
    scope = _root_scope(select)
    if scope is None:
        return None
    own = {id(c) for c in scope.columns if c.table}
    extract = _Extractor("__ivm_r", "__r")

    def visit(node: exp.Expression):
        if isinstance(node, (exp.Subquery, exp.Exists)) or (isinstance(node, exp.In) and node.args.get("query")):
            return extract(node)
        if isinstance(node, exp.Column) and id(node) in own:
            return extract(node)
        return None

    items = []
    for item, name_ in zip(select.expressions, columns):
        value = item.unalias() if isinstance(item, exp.Alias) else item
        items.append(exp.alias_(_rewrite(value, visit), ident(name_)))
    group = select.args.get("group")
    keys = [_rewrite(g, visit) for g in group.expressions] if group is not None else []
    having = select.args.get("having")
    condition = _rewrite(having.this, visit) if having is not None else None
    rows = exp.Select(expressions=extract.select_items())
    for arg in ("from_", "joins", "where"):
        if select.args.get(arg) is not None:
            rows.set(arg, select.args[arg])
    source = f"{name}__rows"
    stages = plan(source, rows, extract.columns(), _with_types(schema, source, rows, extract.columns()))
    outer = exp.select(*items).from_(internal_table(source, "__r"))
    if keys:
        outer = outer.group_by(*keys)
    if condition is not None:
        outer = outer.having(condition)
    types = _with_types(schema, source, rows, extract.columns())[source]
    return stages + _aggregate_stages(name, outer, columns, source, types)


def _aggregate_stages(name: str, outer: exp.Select, columns: Sequence[str], source: str,
                      types: Mapping[str, str]) -> list[Stage]:
    """The aggregate of ``outer`` (reading ``source`` as ``__r``) as a stage reading that stage directly:
    it already holds exactly the columns the aggregate reads, so no SPJ copy of it is made.

    GROUPING SETS, ROLLUP and CUBE become one such aggregate per grouping set (a key outside the set reads
    as a typed NULL, ``GROUPING(...)`` as its constant) and a UNION ALL of them; DuckDB's empty set gives one
    row even over no rows, as a global aggregate does. Keys of unknown type, or more than
    ``MAX_GROUPING_SETS`` sets, keep the aggregate a recompute stage."""
    build = _build()
    select = build._aliased(outer, columns).transform(_to_core)
    select.set("from_", exp.From(this=internal_table(source, "__core")))
    if not build.has_grouping_sets(select):
        return [_aggregate_stage(name, select, columns, source, types)]
    planned = _grouping_set_branches(select, types)
    if isinstance(planned, str):  # only the aggregate is recomputed, from its maintained input
        return [build._recompute(name, select, columns, planned)]
    branches, untyped = planned
    stages: list[Stage] = [_aggregate_stage(f"{name}__gs{i}", branch, columns, source, types)
                           for i, branch in enumerate(branches)]
    # a rolled-up key of unknown type that is an output column as it is: the union reads a plain NULL for
    # it, which takes the type of the sets that keep the key (the branch's own column is not read)
    selects = [exp.select(*[exp.alias_(exp.Null() if c in untyped[i] else column(c, stage.name), ident(c))
                            for c in columns]).from_(internal_table(stage.name, stage.name))
               for i, stage in enumerate(stages)]
    return stages + [build._spj(name, selects, columns)]


MAX_GROUPING_SETS = 16


def _to_core(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Column) and node.table == "__r":
        return column(node.name, "__core")
    return node


def _grouping_sets(group: exp.Group) -> list[list[exp.Expression]] | None:
    """The grouping sets of a GROUP BY: the cross product of its elements, where a plain key is in every
    set, ``ROLLUP (a, b)`` gives (a, b), (a), (), ``CUBE`` every subset and ``GROUPING SETS`` its list."""
    if any(group.args.get(arg) for arg in ("grouping_sets", "cube", "rollup")):
        return None  # older sqlglot kept them beside the expressions
    sets: list[list[exp.Expression]] = [[]]
    for element in group.expressions:
        if isinstance(element, exp.Rollup):
            keys = list(element.expressions)
            options = [keys[:n] for n in range(len(keys), -1, -1)]
        elif isinstance(element, exp.Cube):
            keys = list(element.expressions)
            if len(keys) > 4:
                return None
            options = [[k for bit, k in enumerate(keys) if mask >> bit & 1] for mask in range(2 ** len(keys))]
        elif isinstance(element, exp.GroupingSets):
            options = []
            for item in element.expressions:
                item = item.this if isinstance(item, exp.Paren) else item
                options.append(list(item.expressions) if isinstance(item, exp.Tuple) else [item])
        elif isinstance(element, (exp.Tuple, exp.Paren)):
            return None
        else:
            options = [[element]]
        sets = [chosen + option for chosen in sets for option in options]
        if len(sets) > MAX_GROUPING_SETS:
            return None
    return sets


def _grouping_set_branches(select: exp.Select, types: Mapping[str, str]
                           ) -> tuple[list[exp.Select], list[set[str]]] | str:
    """One aggregate per grouping set, and per set the output columns that are a rolled-up key of unknown
    type (the union reads NULL for them); else the reason the aggregate stays one recompute stage (``explain``
    shows it): such a key also appears inside an expression, where a NULL of unknown type could change the
    expression's type; a key is a constant; too many sets. A key inside a key the set keeps is refused: the
    view is then recomputed from the user's own text."""
    sets = _grouping_sets(select.args["group"])
    if sets is None:
        return (f"GROUPING SETS/ROLLUP/CUBE with more than {MAX_GROUPING_SETS} sets (or a CUBE of more than 4 keys, "
                "or a parenthesised list of keys) have no delta rule yet")
    sql = _key_text
    every = {sql(k): k for chosen in sets for k in chosen}
    constant = next((node for node in every.values() if node.find(exp.Column) is None), None)
    if constant is not None:  # a SELECT item equal to it would be evaluated again, not read as NULL
        return (f"a grouping set key that is a constant ({constant.sql(dialect=DIALECT)}, perhaps a column of a "
                "derived table or CTE that holds one) has no delta rule yet")
    typed, unknown = {}, set()
    for key, node in every.items():
        typ = types.get(node.name) if isinstance(node, exp.Column) and node.table == "__core" else None
        if typ and typ != "UNKNOWN":
            typed[key] = typ
        else:
            unknown.add(key)
    bare = {}  # unknown-typed key -> the output columns that are exactly that key
    for item in select.expressions:
        value = item.unalias() if isinstance(item, exp.Alias) else item
        if sql(value) in unknown:
            bare.setdefault(sql(value), set()).add(item.alias_or_name)
    having = select.args.get("having")
    for item in [*select.expressions, *([having.this] if having is not None else [])]:
        value = item.unalias() if isinstance(item, exp.Alias) else item
        if sql(value) in unknown:
            continue
        inside = {sql(node) for node in value.walk() if isinstance(node, exp.Expression)} & unknown
        if any(not _only_in_aggregates(value, key) for key in inside):  # a NULL of unknown type inside it
            return (f"a rolled-up grouping key of unknown type inside the expression {value.sql(dialect=DIALECT)} "
                    "has no delta rule yet")
    for chosen in sets:  # a kept key reading a rolled-up key (year(d) when d is rolled up): DuckDB keeps the
        # item year(d) whole only if it is spelled like the key, and sqlglot spells mod(x, 2) and x % 2 alike
        present = {sql(k) for k in chosen}
        for key in chosen:
            if not isinstance(key, exp.Column) and any(sql(inner) in every and sql(inner) not in present
                                                       for inner in key.find_all(exp.Column)):
                raise IvmError(f"a grouping set keeping {key.sql(dialect=DIALECT)} but rolling up a column it "
                               "reads has no delta rule yet (DuckDB reads the item as the key only when it is "
                               "spelled the same)")
    branches, untyped = [], []
    for chosen in sets:
        present = {sql(k) for k in chosen}
        untyped.append({name for key in unknown - present for name in bare.get(key, ())})

        def visit(node: exp.Expression, present=present):
            if isinstance(node, (exp.Grouping, exp.GroupingId)):  # grouping_id(): DuckDB's other name for it
                bits = 0
                for argument in node.expressions:
                    bits = bits * 2 + (sql(argument) not in present)
                return exp.cast(exp.Literal.number(bits), "BIGINT")  # the type of DuckDB's GROUPING()
            if isinstance(node, (*AGG_WRAPPERS, exp.AggFunc)) or unknown_aggregate(node):
                return node.copy()  # arguments of aggregates (and their FILTER) keep their values
            key = sql(node)
            if key in present:  # a kept key stays whole: year(d) in the set (year(d)) is not year(NULL)
                return node.copy()
            if key in typed and key not in present:
                return exp.cast(exp.Null(), typed[key])
            if key in unknown and key not in present:
                return exp.Null()  # only ever a whole output column: the union reads NULL instead
            return None

        branch = select.copy()
        branch.set("expressions", [_rewrite(e.copy(), visit) for e in select.expressions])
        having = select.args.get("having")
        branch.set("having", exp.Having(this=_rewrite(having.this.copy(), visit)) if having is not None else None)
        unique = list({sql(k): k for k in chosen}.values())
        branch.set("group", exp.Group(expressions=[k.copy() for k in unique]) if unique else None)
        branches.append(branch)
    return branches, untyped


def _key_text(node: exp.Expression) -> str:
    """A grouping key or SELECT item as text, outer parentheses dropped: ``ROLLUP ((k % 2))`` groups by the
    item ``k % 2``, as DuckDB matches them."""
    while isinstance(node, exp.Paren):
        node = node.this
    return node.sql(dialect=DIALECT)


def _only_in_aggregates(value: exp.Expression, key: str) -> bool:
    """Whether every occurrence of ``key`` in ``value`` lies inside an aggregate (which keeps its value)."""
    for node in value.walk():
        if isinstance(node, exp.Expression) and _key_text(node) == key:
            parent = node.parent
            while parent is not None and parent is not value.parent:
                if isinstance(parent, (*AGG_WRAPPERS, exp.AggFunc, exp.Grouping, exp.GroupingId)) or unknown_aggregate(parent):
                    break
                parent = parent.parent
            else:
                return False
    return True


def _aggregate_stage(name: str, select: exp.Select, columns: Sequence[str], source: str,
                     types: Mapping[str, str]) -> Stage:
    from ivm.plan.nodes import AggregateStage
    from ivm.plan.state import subtractive_state

    group = select.args.get("group")
    keys = tuple(k.copy() for k in group.expressions) if group is not None else ()
    # a key whose equal values look different (INTERVAL, collation, -0.0) must show a row still there
    coarse = _build()._coarse_keys(select, {source: dict(types)})
    state, outputs = ((), ()) if coarse else subtractive_state(select, keys, dict(types))
    return AggregateStage(name=name, columns=tuple(columns), inputs=(source,), source=source, select=select,
                          keys=keys, state=state, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------
# 5. Per-row stages: outer joins and subqueries


def _per_row(name: str, select: exp.Select, columns: Sequence[str], schema: Schema, plan: Planner) -> list[Stage] | None:
    stages: list[Stage] = []
    select = select.copy()
    select, more = _lower_uncorrelated(name, select, schema, plan)
    if select is None:
        return None
    stages += more
    variants = _split_full_joins(select)
    if not variants:
        return None
    branches = []
    for position, (variant, driver_alias) in enumerate(variants):
        driver_table = next(t for t in _build()._tables(variant) if t.alias_or_name == driver_alias)
        lookups = _lookups(variant, driver_alias)
        if lookups is None:
            return None
        branches.append(RowBranch(select=variant, driver=Scan(relation=driver_table.name, alias=driver_alias,
                                                              lineage=position), lookups=tuple(lookups)))
    inputs = {b.driver.relation for b in branches} | {lookup.relation for b in branches for lookup in b.lookups}
    stage = PerRowStage(name=name, columns=tuple(columns), inputs=tuple(sorted(inputs)), branches=tuple(branches))
    return stages + [stage]


def _lower_uncorrelated(name, select, schema, plan):
    """Uncorrelated subqueries with aggregates, joins, set operations, DISTINCT or LIMIT become stages, so
    a change reaches the driver rows only through the subquery's maintained result."""
    scope = _root_scope(select)
    if scope is None:
        return None, []
    stages: list[Stage] = []
    for position, child in enumerate(scope.subquery_scopes):
        query = child.expression
        if child.external_columns or _simple_lookup(query):
            continue
        wrapper = query.parent
        if isinstance(wrapper, exp.Subquery) and isinstance(wrapper.parent, exp.From | exp.Join):
            return None, []  # a derived table should have become a CTE
        source = f"{name}__sq{position}"
        width = len(query.named_selects) if isinstance(query, exp.Query) else 0
        if width == 0:
            return None, []
        names = [f"__ivm_c{i}" for i in range(width)]
        stages.extend(plan(source, query.copy(), names, schema))
        alias = f"__sq{position}"
        replacement = exp.select(*[column(n, alias) for n in names]).from_(internal_table(source, alias))
        query.replace(replacement)
    return select, stages


def _simple_lookup(query: exp.Expression) -> bool:
    """A subquery that reads tables directly, without aggregates, joins, DISTINCT, LIMIT or nested subqueries."""
    if not isinstance(query, exp.Select):
        return False
    if query.args.get("joins") or _is_aggregate(query) or query.args.get("distinct") is not None:
        return False
    if query.args.get("limit") is not None or query.args.get("offset") is not None or query.find(exp.Window):
        return False
    return not any(n is not query for n in query.find_all(exp.Select))


def _split_full_joins(select: exp.Select) -> list[tuple[exp.Select, str]] | None:
    """Branches whose UNION ALL is ``select``, each with the alias of its driver (a table present in every
    row of the branch). Inner and LEFT joins distribute over the branches of their left side. A RIGHT join
    does not: it starts one branch over the original left side, driven by its right table. A FULL join is
    LEFT JOIN on every branch so far, plus one branch for its unmatched right rows: the original left side
    RIGHT JOINed, where every left table is absent."""
    joins = select.args.get("joins") or []
    if sum(1 for j in joins if (j.side or "").upper() == "FULL") > MAX_FULL_JOINS:
        return None
    first = select.args["from_"].this.alias_or_name

    def with_side(join: exp.Join, side: str) -> exp.Join:
        join = join.copy()
        join.set("side", side)
        return join

    branches: list[tuple[list[exp.Join], list[exp.Expression], str]] = [([], [], first)]
    for index, join in enumerate(joins):
        alias = join.this.alias_or_name
        side = (join.side or "").upper()
        if side in ("", "LEFT"):
            branches = [(js + [join.copy()], extra, driver) for js, extra, driver in branches]
        elif side == "RIGHT":
            branches = [([j.copy() for j in joins[:index]] + [join.copy()], [], alias)]
        elif side == "FULL":
            left_aliases = [first] + [j.this.alias_or_name for j in joins[:index]]
            absent = [exp.Is(this=column(RID, a), expression=exp.Null()) for a in left_aliases]
            branches = [(js + [with_side(join, "LEFT")], extra, driver) for js, extra, driver in branches] \
                + [([j.copy() for j in joins[:index]] + [with_side(join, "RIGHT")], absent, alias)]
        else:
            return None
    results = []
    for js, extra, driver in branches:
        variant = select.copy()
        variant.set("joins", js or None)
        if extra:
            variant = variant.where(and_all([e.copy() for e in extra]))
        results.append((variant, driver))
    return results


# ---------------------------------------------------------------------------------------------------------
# Probes: which driver rows a changed lookup row can reach


def _lookups(select: exp.Select, driver: str) -> list[Lookup] | None:
    build = _build()
    scope = _root_scope(select)
    if scope is None:
        return None
    lookups = []
    relaxed = _relaxing_loses_padding(select)
    for table in build._tables(select):
        alias = table.alias_or_name
        if alias == driver:
            continue
        join = table.parent if isinstance(table.parent, exp.Join) else None
        # the FROM table is a lookup only when a RIGHT (or FULL) join drives the branch
        role = f"{'ASOF ' if join is not None and is_asof(join) else ''}{(join.side or '').upper()} JOIN".replace(
            "  ", " ").strip() if join is not None else "RIGHT JOIN"
        reason = _pads_before_driver(select, driver, alias) or relaxed
        if join is not None and is_asof(join) and not reason:
            probe, reason = _asof_probe(select, driver, join)
        else:
            probe = None if reason else _tree_probe(select, driver, alias)
        lookups.append(Lookup(relation=table.name, alias=alias, probe=probe, reason=reason or "", role=role))
    conjuncts = _conjuncts(select.args["where"].this) if select.args.get("where") is not None else []
    for position, child in enumerate(scope.subquery_scopes):
        query = child.expression
        tables = [t for t in query.find_all(exp.Table) if t.args.get("db")]
        direct = build._tables(query) if isinstance(query, exp.Select) else []
        direct_ids = {id(t) for t in direct}
        role = _subquery_role(query)
        for table in tables:
            if id(table) not in direct_ids:
                lookups.append(Lookup(relation=table.name, alias=table.alias_or_name, probe=None,
                                      reason="it is read inside a nested subquery or set operation", role=role))
                continue
            # an ASOF JOIN in the subquery picks the rows its correlation reads: a changed partner can change
            # them without meeting the correlation itself (found by the ASOF hunt: stale EXISTS / IN / scalar)
            asof = "an ASOF JOIN in its subquery picks the rows the correlation reads" \
                if any(is_asof(j) for j in query.find_all(exp.Join)) else None
            unusable = relaxed or asof
            probe = None if unusable else _subquery_probe(select, driver, child, table, position, conjuncts)
            lookups.append(Lookup(relation=table.name, alias=table.alias_or_name, probe=probe, role=role,
                                  reason=unusable or ("" if probe is not None else "its subquery is not correlated")))
    return lookups


def _relaxing_loses_padding(select: exp.Select) -> str | None:
    """Why probes of ``select`` may miss driver rows because :func:`_strip` relaxes an outer join's ON that
    holds a subquery to TRUE, or None. Relaxed, the join matches every row, so the rows it padded with NULLs
    are gone from the probe; a later join condition that may be TRUE on those NULLs (``s LEFT JOIN c ON c.q
    NOT IN (SELECT ..) RIGHT JOIN r ON c.note IS NOT DISTINCT FROM r.g``) reached driver rows through them,
    and they were missed (found by the random SQL hunt: a stale row after deleting ``s``'s row). Then every
    driver row is re-evaluated when a lookup changes."""
    joins = select.args.get("joins") or []
    names = _aliases(select)
    for index, join in enumerate(joins):
        on, padded = join.args.get("on"), _padded_by(join, names, index + 1)
        if not padded or on is None or not _subqueries_in(on):
            continue
        for later in joins[index + 1:]:
            condition = later.args.get("on")
            if condition is not None and any(
                    any(c.table == alias for c in condition.find_all(exp.Column)) and not _rejects_null(condition, alias)
                    for alias in padded):
                return (f"the ON of the join of {names[index + 1]} holds a subquery, and a later join's condition "
                        "may match the NULLs that join pads with")
    return None


def _pads_before_driver(select: exp.Select, driver: str, alias: str) -> str | None:
    """Why a change of lookup ``alias`` can reach driver rows its probe does not find, or None.

    A probe finds the driver rows whose rows hold a changed row of the lookup. When a RIGHT join drives the
    branch, the tables before it form one relation X whose rows the driver rows match; if an outer join pads
    the lookup with NULLs inside X, a lookup row that leaves can make X *gain* a NULL-padded row (and one
    that enters can make X lose one), holding no row of the lookup at all. A driver row that matches such a
    padded row but matched no row with the changed lookup row (``c LEFT JOIN s ... RIGHT JOIN d ON s.id IS
    NOT DISTINCT FROM d.x``, ``ON coalesce(s.id, 0) = d.x``, ``ON s.id = d.x OR s.id IS NULL``) is then
    missed. The probe still suffices when the lookup is never padded in X (every row of X that changes
    holds a changed lookup row), or when X has no RIGHT or FULL join after the lookup (so every row of X
    that changes without holding a changed lookup row has the lookup's columns NULL, and is one of the
    lookup's partners padded) and either the driver's ON condition cannot be true with the lookup's columns
    NULL, or it reads no column of the lookup or of the tables joined after it in X (a padded row then
    matches the same driver rows as the row with the changed lookup row it replaces, which LEFT joins
    after the lookup keep). Otherwise every driver row is re-evaluated when the lookup changes."""
    joins = select.args.get("joins") or []
    position = next((i for i, j in enumerate(joins) if j.this.alias_or_name == driver), None)
    if position is None:
        return None  # the FROM table drives: every lookup is joined to the driver's rows, never before them
    names = _aliases(select)
    if alias not in names[:position + 1]:
        return None  # joined after the driver: a padded row holds the driver row, which the probe finds
    before = select.copy()
    before.set("joins", [j.copy() for j in joins[:position]] or None)
    if alias not in _padded(before):
        return None
    after = joins[names.index(alias):position]  # the joins after the lookup, before the driver
    reason = ("a change of it can pad rows before the RIGHT JOIN that drives the branch with NULLs, and that "
              "join's condition may match them")
    if any((j.side or "").upper() in ("RIGHT", "FULL") for j in after):
        return reason
    on = joins[position].args.get("on")
    if on is None:
        return reason
    if _rejects_null(on, alias):
        return None
    later = {alias} | {j.this.alias_or_name for j in after}
    if all((j.side or "").upper() == "LEFT" for j in after) \
            and not any(c.table in later for c in on.find_all(exp.Column)):
        return None
    return reason


_NULL_IN_NULL_OUT = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.EQ, exp.NEQ, exp.GT,
                     exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.BitwiseAnd, exp.BitwiseOr,
                     exp.BitwiseXor)


def _null_when(node: exp.Expression, alias: str) -> bool:
    """``node`` is NULL whenever the columns of ``alias`` are (a column of it, or an operator that returns
    NULL for a NULL operand over one)."""
    if isinstance(node, exp.Column):
        return node.table == alias
    if isinstance(node, exp.Paren | exp.Neg | exp.Not | exp.Cast):
        return _null_when(node.this, alias)
    if isinstance(node, _NULL_IN_NULL_OUT):
        return _null_when(node.this, alias) or _null_when(node.expression, alias)
    return False


def _rejects_null(condition: exp.Expression, alias: str) -> bool:
    """``condition`` cannot be TRUE when the columns of ``alias`` are NULL. Anything not recognised (a
    function such as coalesce, IS [NOT] DISTINCT FROM, IS NULL, CASE, a subquery) may be TRUE."""
    if isinstance(condition, exp.Paren):
        return _rejects_null(condition.this, alias)
    if isinstance(condition, exp.And):
        return _rejects_null(condition.this, alias) or _rejects_null(condition.expression, alias)
    if isinstance(condition, exp.Or):
        return _rejects_null(condition.this, alias) and _rejects_null(condition.expression, alias)
    if isinstance(condition, exp.In | exp.Between):
        return _null_when(condition.this, alias)
    return _null_when(condition, alias)


def _subquery_role(query: exp.Expression) -> str:
    wrapper = query.parent
    if isinstance(wrapper, exp.Exists):
        kind = "EXISTS"
    elif isinstance(wrapper, exp.Subquery) and isinstance(wrapper.parent, exp.In) and wrapper.arg_key == "query":
        wrapper, kind = wrapper.parent, "IN"
    else:
        return "scalar subquery"
    negated = isinstance(wrapper.parent, exp.Not) or (
        isinstance(wrapper.parent, exp.Paren) and isinstance(wrapper.parent.parent, exp.Not))
    return f"NOT {kind}" if negated else kind


def _strip(select: exp.Select, driver: str) -> exp.Select:
    """``select`` as ``SELECT DISTINCT driver.__ivm_rid`` over its joins, with every ON conjunct that holds
    a subquery relaxed to TRUE (relaxing joins only adds driver rows), and only the WHERE conjuncts that
    :func:`_row_filters` keeps."""
    probe = exp.Select(expressions=[exp.alias_(column(RID, driver), ident(RID))], distinct=exp.Distinct())
    probe.set("from_", select.args["from_"].copy())
    joins = []
    for join in select.args.get("joins") or []:
        join = join.copy()
        on = join.args.get("on")
        if on is not None and _subqueries_in(on):
            kept = [c for c in _conjuncts(on) if not _subqueries_in(c)]
            join.set("on", and_all(kept) if kept else exp.true())
        joins.append(join)
    probe.set("joins", joins or None)
    filters = _row_filters(select)
    if filters:
        probe.set("where", exp.Where(this=and_all(filters)))
    return probe


def _row_filters(select: exp.Select) -> list[exp.Expression]:
    """The WHERE conjuncts a probe may keep: those without subqueries over tables that are never
    null-padded (the FROM table and inner or cross joins, in a branch without RIGHT or FULL joins).

    Such a conjunct has one value for a given combination of rows, before and after the deletion, so a
    combination it rejects gives no output row in either state and its driver row need not be found. Comma
    joins keep their join condition in WHERE: without it a probe would pair every driver row with every
    changed row (TPC-H Q17 reached all of lineitem for each changed part)."""
    where = select.args.get("where")
    joins = select.args.get("joins") or []
    if where is None or any((j.side or "").upper() in ("RIGHT", "FULL") for j in joins):
        return []
    # an ASOF join's table is no such table: a conjunct rejecting the partner it picks says nothing of the
    # partner it picks once a changed row is gone or added
    inner = {select.args["from_"].this.alias_or_name} | {j.this.alias_or_name for j in joins
                                                         if not j.side and not is_asof(j)}
    return [c.copy() for c in _conjuncts(where.this)
            if not _subqueries_in(c) and all(col.table in inner for col in c.find_all(exp.Column))]


def _asof_probe(select: exp.Select, driver: str, join: exp.Join) -> tuple[exp.Select | None, str]:
    """The probe for the right table of an ASOF join: the driver rows that have a changed row among their
    candidates, found by the ASOF join of the tables before it with the changed rows alone. Nothing that
    depends on the partner a row gets may filter them (found by the ASOF hunt: a WHERE on a table joined to the
    partner rejected the deleted partner's row, and the row whose new partner passes was missed), so the joins
    after the ASOF join and the WHERE conjuncts reading them or the partner are left out. A driver joined after
    the ASOF join (a RIGHT JOIN) is reached only through them: then every driver row is re-evaluated."""
    joins = select.args.get("joins") or []
    index = next(i for i, j in enumerate(joins) if j is join)
    names = _aliases(select)
    if driver not in names[:index + 1]:
        return None, "the row driving the branch is joined after the ASOF JOIN, which picks the partners it matches"
    before = set(names[:index + 1]) - {join.this.alias_or_name}
    truncated = select.copy()
    truncated.set("joins", [j.copy() for j in joins[:index + 1]])
    where = select.args.get("where")
    kept = [c.copy() for c in (_conjuncts(where.this) if where is not None else [])
            if all(col.table in before for col in c.find_all(exp.Column))]
    truncated.set("where", exp.Where(this=and_all(kept)) if kept else None)
    return _tree_probe(truncated, driver, join.this.alias_or_name), ""


def _mark(probe: exp.Select, alias: str) -> bool:
    """Point the table read as ``alias`` at the changed rows."""
    for table in _build()._tables(probe):
        if table.alias_or_name == alias and table.args.get("db"):
            table.replace(exp.Table(this=ident(PROBE), alias=exp.TableAlias(this=ident(alias))))
            return True
    return False


def _prune(probe: exp.Select, keep: set[str]) -> exp.Select:
    """Drop joined tables nothing else refers to (they can only multiply or filter rows, and a probe may
    return more driver rows than needed, never fewer). RIGHT joins stay: they decide which rows exist."""
    while True:
        joins = probe.args.get("joins") or []
        removed = False
        for index in range(len(joins) - 1, -1, -1):
            join = joins[index]
            alias = join.this.alias_or_name
            if alias in keep or (join.side or "").upper() in ("RIGHT", "FULL"):
                continue
            others = [probe.args.get("where")] + [j.args.get("on") for j in joins if j is not join] \
                + list(probe.expressions)
            used = any(c.table == alias for part in others if part is not None for c in part.find_all(exp.Column))
            if not used:
                joins = joins[:index] + joins[index + 1:]
                probe.set("joins", joins or None)
                removed = True
                break
        if not removed:
            return probe


def _tree_probe(select: exp.Select, driver: str, alias: str) -> exp.Select:
    probe = _strip(select, driver)
    probe = probe.where(exp.Not(this=exp.Is(this=column(RID, alias), expression=exp.Null())))
    _prune(probe, {driver, alias})
    _mark(probe, alias)
    return probe


def _subquery_probe(select: exp.Select, driver: str, child: Scope, table: exp.Table, position: int,
                    outer_conjuncts: list[exp.Expression]) -> exp.Select | None:
    """Driver rows whose subquery reads a changed row: the outer joins crossed with the subquery's own
    FROM, filtered by the subquery's WHERE (its correlation) and, for IN, by the IN comparison."""
    query = child.expression
    if not isinstance(query, exp.Select) or query.args.get("from_") is None:
        return None
    wrapper = query.parent
    in_node = wrapper.parent if isinstance(wrapper, exp.Subquery) and isinstance(wrapper.parent, exp.In) \
        and wrapper.arg_key == "query" else None
    copy = query.copy()
    inner_scope = _root_scope(copy)
    if inner_scope is None:
        return None
    build = _build()
    renames = {t.alias_or_name: f"__ivm_q{position}_{t.alias_or_name}" for t in build._tables(copy)}
    external = {id(c) for c in inner_scope.external_columns}
    local = [c for c in inner_scope.columns if c.table in renames and id(c) not in external]
    for col in local:
        col.set("table", ident(renames[col.table]))
    for t in build._tables(copy):
        t.set("alias", exp.TableAlias(this=ident(renames[t.alias_or_name])))
    if any((j.side or "").upper() in ("RIGHT", "FULL") for j in copy.args.get("joins") or []):
        return None  # appended to the probe's joins it would pad the driver rows too: every driver row may change
    # a conjunct over a table the subquery's outer joins may pad with NULLs has other values once rows leave
    # (``i.oid IS NULL`` becomes true for an order whose items left): the probe keeps only the others
    padded = _padded(copy)
    conditions = [c for c in _conjuncts(copy.args["where"].this) if not _subqueries_in(c)
                  and not any(col.table in padded for col in c.find_all(exp.Column))] \
        if copy.args.get("where") is not None else []
    outer_refs = any(c.table not in renames for cond in conditions for c in cond.find_all(exp.Column) if c.table)
    variants = [[]]
    if in_node is not None and len(copy.expressions) == 1 and _plain_rows(copy) \
            and not _subqueries_in(in_node.this):
        value = copy.expressions[0].unalias() if isinstance(copy.expressions[0], exp.Alias) else copy.expressions[0]
        if any(col.table in padded for col in value.find_all(exp.Column)):
            return None  # the listed value turns NULL when its partner leaves: every driver row may change
        left = in_node.this.copy()
        equal = exp.EQ(this=value.copy(), expression=left)
        positive = any(c is in_node for c in outer_conjuncts) and select.args.get("where") is not None
        if positive:
            variants = [[equal]]
        else:  # IN / NOT IN anywhere else: a NULL on either side matters (three probes, each a plain join)
            variants = [[equal], [exp.Is(this=left.copy(), expression=exp.Null())],
                        [exp.Is(this=value.copy(), expression=exp.Null())]]
        outer_refs = True
    if not outer_refs:
        return None
    marked = renames[table.alias_or_name]
    probes = []
    for extra in variants:
        probe = _strip(select, driver)
        first = copy.args["from_"].this.copy()
        probe.set("joins", (probe.args.get("joins") or []) + [exp.Join(this=first, kind="CROSS")]
                  + [j.copy() for j in copy.args.get("joins") or []])
        where = [c.copy() for c in conditions + extra]
        where.append(exp.Not(this=exp.Is(this=column(RID, marked), expression=exp.Null())))
        probe = probe.where(and_all(where))
        _prune(probe, {driver, marked, *renames.values()})
        if not _mark(probe, marked):
            return None
        probes.append(probe)
    result = probes[0]
    for probe in probes[1:]:
        result = exp.union(result, probe, distinct=False)
    return result


def _aliases(select: exp.Select) -> list[str]:
    """The aliases of the FROM table and of each joined table, in order."""
    return [select.args["from_"].this.alias_or_name] + [j.this.alias_or_name for j in select.args.get("joins") or []]


def _padded(select: exp.Select) -> set[str]:
    """Aliases of the tables an outer join of ``select`` may pad with NULLs."""
    names = _aliases(select)
    return {alias for position, join in enumerate(select.args.get("joins") or [], 1)
            for alias in _padded_by(join, names, position)}


def _padded_by(join: exp.Join, names: list[str], position: int) -> set[str]:
    """What the join at ``position`` of the tables ``names`` pads with NULLs: the right side of a LEFT join,
    both sides of a FULL join, and everything before a RIGHT or FULL join."""
    side = (join.side or "").upper()
    return ({names[position]} if side in ("LEFT", "FULL") else set()) \
        | (set(names[:position]) if side in ("RIGHT", "FULL") else set())


def _plain_rows(query: exp.Select) -> bool:
    """The subquery's select list is evaluated per row (no aggregate, DISTINCT ON, LIMIT or window)."""
    return not _is_aggregate(query) and query.args.get("limit") is None \
        and query.args.get("offset") is None and not query.find(exp.Window)
