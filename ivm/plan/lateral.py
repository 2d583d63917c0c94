"""Lateral table functions in FROM as a column of the relation they expand.

``FROM t, UNNEST(t.tags) AS u(tag)`` (also ``range(t.n)``, ``generate_series(t.a, t.b)``, or a ``LATERAL
(SELECT <expressions of t>)`` without FROM; written with a comma, CROSS JOIN or an inner JOIN) pairs each row of ``t`` with the elements computed from that row alone. That is
the bag ``SELECT t.*, UNNEST(t.tags) AS tag FROM t`` yields (an empty or NULL list gives no row either way), so
the rewrite makes the expansion a derived table over ``t``, which the planner maintains like any projection:
a deleted row of ``t`` takes its elements with it through the row's lineage. Without it the function is a
relation that is not a table, and the whole view recomputed.

Only functions whose columns all come from one earlier table of the same FROM are rewritten, with one named
output column; anything else is left as written (and falls back, as before).
"""
from __future__ import annotations

from typing import Mapping

from sqlglot import exp

Schema = Mapping[str, Mapping[str, str]]


def lateral_functions_as_columns(query: exp.Query, schema: Schema) -> exp.Query:
    """Rewrite ``query`` in place (before qualification) and return it.

    Example:
        >>> import sqlglot
        >>> q = sqlglot.parse_one("SELECT t.id, u.tag FROM t, UNNEST(t.tags) AS u(tag)", read="duckdb")
        >>> lateral_functions_as_columns(q, {"t": {"id": "INT", "tags": "VARCHAR[]"}}).sql("duckdb")
        'SELECT t.id, t.tag FROM (SELECT t.*, UNNEST(t.tags) AS tag FROM t) AS t'
    """
    tables = {name.lower(): {c.lower() for c in columns} for name, columns in schema.items()}
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for select in list(query.find_all(exp.Select)):
        added: dict[int, set[str]] = {}  # id of a derived table made here -> the columns it adds
        for join in list(select.args.get("joins") or []):
            _rewrite(select, join, tables, ctes, added)
    return query


def _rewrite(select: exp.Select, join: exp.Join, tables, ctes, added: dict[int, set[str]]) -> None:
    function, alias = join.this, join.this.args.get("alias")
    outputs = _outputs(function, alias)
    if not outputs:
        return
    if (join.side or "") or (join.kind or "").upper() not in ("", "INNER", "CROSS") or join.args.get("method") \
            or join.args.get("using"):
        return
    on = join.args.get("on")
    joins = select.args.get("joins") or []
    if on is not None and any((j.side or "").upper() in ("RIGHT", "FULL") for j in joins):
        return  # moving the condition to WHERE would drop the padded rows of a later outer join
    position = joins.index(join)
    earlier = [select.args["from_"].this] + [j.this for j in joins[:position]]
    relation = _only_relation([e for _, e in outputs], earlier, tables, ctes, added)
    if relation is None or _nullable(relation, joins[:position]):
        return
    qualifier = relation.alias_or_name
    stars = _stars(select, {alias.name.lower(), qualifier.lower()}, earlier[-1] is relation)
    if _rebound(select, {alias.name.lower(), qualifier.lower()}, added) or stars == "refuse":
        return
    names = {name.lower() for name, _ in outputs}
    known = added[id(relation)] if isinstance(relation, exp.Subquery) else tables[relation.name.lower()]
    if names & known or alias.name.lower() in names or len(names) != len(outputs):
        return  # a column of that name exists already: references would become ambiguous
    body = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(qualifier)),
                      *[exp.alias_(e.copy(), exp.to_identifier(name)) for name, e in outputs]).from_(relation.copy())
    if stars == "expand":
        _expand_stars(select, relation, function, qualifier, [name for name, _ in outputs])
    derived = exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(qualifier)))
    added[id(derived)] = known | names
    relation.replace(derived)
    join.pop()
    if on is not None and not (isinstance(on, exp.Boolean) and on.this is True):
        select.where(on.copy(), copy=False)
    for node in list(select.find_all(exp.Column)):
        if node.table and node.table.lower() == alias.name.lower() and node.name.lower() in names:
            node.set("table", exp.to_identifier(qualifier))
        elif node.text("db").lower() == alias.name.lower() and node.table.lower() in names:  # u.s.a: a field
            node.set("db", exp.to_identifier(qualifier))


def _rebound(select: exp.Select, names: set[str], added: dict[int, set[str]]) -> bool:
    """Whether a subquery inside ``select`` names one of its relations like the function or the table it
    reads: renaming ``u.tag`` to ``t.tag`` there would reach that relation instead. (The derived tables this
    rewrite made, in ``added``, read the table itself.)"""
    for inner in select.find_all(exp.Select):
        if inner is not select and id(inner.parent) not in added \
                and any(relation.alias_or_name.lower() in names for relation in relations_of(inner)):
            return True
    return any(cte.alias_or_name.lower() in names for cte in select.find_all(exp.CTE))


def relations_of(select: exp.Select) -> list[exp.Expression]:
    """The relations of ``select``'s FROM and JOINs, in order."""
    first = select.args.get("from_")
    return ([first.this] if first is not None else []) + [j.this for j in select.args.get("joins") or []]


def _stars(select: exp.Select, names: set[str], adjacent: bool) -> str:
    """How the stars of ``select`` survive the rewrite: "keep" when a bare ``*`` expands to the same columns
    (the function directly follows its table, so its columns stay right after the table's), "expand" when the
    bare stars must first be written out relation by relation (relations stand between the two), "refuse" when
    ``t.*`` or ``u.*`` would gain or lose the function's columns, or a star cannot be written out (USING and
    NATURAL joins merge columns, SEMI/ANTI joins hide theirs, a star with modifiers, an unnamed relation)."""
    verdict = "keep"
    for item in select.expressions:
        for star in item.find_all(exp.Star):
            if isinstance(star.parent, exp.AggFunc) or star.find_ancestor(exp.Select) is not select:
                continue  # count(*), or a star of a subquery
            if isinstance(star.parent, exp.Column) and star.parent.table:
                if star.parent.table.lower() in names:  # t.* / u.*: written out below
                    if star.parent is not item or any(star.args.get(key) for key in star.arg_types):
                        return "refuse"
                    verdict = "expand"
            elif not adjacent:
                if star is not item or any(star.args.get(key) for key in star.arg_types):
                    return "refuse"
                verdict = "expand"
    if verdict == "expand" and (any(j.args.get("using") or j.args.get("method")
                                    or (j.kind or "").upper() in ("SEMI", "ANTI") for j in select.args.get("joins") or [])
                                or not all(r.alias_or_name for r in relations_of(select))):
        return "refuse"
    return verdict


def _expand_stars(select: exp.Select, relation: exp.Expression, function: exp.Expression, qualifier: str,
                  names: list[str]) -> None:
    """Write each bare ``*`` of ``select`` out as the relations' stars in FROM order, the function's columns
    at the function's place: ``*`` over ``t, o, UNNEST(t.tags) AS u(tag)`` becomes ``t.* EXCLUDE (tag), o.*,
    t.tag``, which reads the same after ``tag`` became a column of ``t``."""
    items = []
    for other in relations_of(select):
        if other is function:
            items.extend(exp.alias_(exp.column(name, qualifier), exp.to_identifier(name)) for name in names)
        elif other is relation:
            items.append(exp.Column(this=exp.Star(except_=[exp.column(n) for n in names]),
                                    table=exp.to_identifier(qualifier)))
        else:
            items.append(exp.Column(this=exp.Star(), table=exp.to_identifier(other.alias_or_name)))
    alias = function.args["alias"].name.lower()
    expressions = []
    for item in select.expressions:
        star = isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        if isinstance(item, exp.Star):
            expressions.extend(i.copy() for i in items)
        elif star and item.table.lower() == qualifier.lower():  # t.*: the table's own columns only
            expressions.append(exp.Column(this=exp.Star(except_=[exp.column(n) for n in names]),
                                          table=exp.to_identifier(qualifier)))
        elif star and item.table.lower() == alias:  # u.*: the function's columns
            expressions.extend(exp.alias_(exp.column(n, qualifier), exp.to_identifier(n)) for n in names)
        else:
            expressions.append(item)
    select.set("expressions", expressions)


def _nullable(relation: exp.Expression, joins: list[exp.Join]) -> bool:
    """Whether an outer join before the function may pad ``relation`` with NULLs: there the function drops
    the padded row (it unrolls a NULL), while a derived table would keep it."""
    for join in joins:
        side = (join.side or "").upper()
        if side in ("RIGHT", "FULL") or (side == "LEFT" and join.this is relation) or join.args.get("method"):
            return True
    return False


def _outputs(function: exp.Expression, alias) -> list[tuple[str, exp.Expression]] | None:
    """The columns the function adds, as (name, expression over the row it reads): UNNEST's argument, or
    range/generate_series as a list-valued call, unrolled; a LATERAL subquery's expressions, when it is a
    plain projection (no FROM, filter, aggregate or window)."""
    if not isinstance(alias, exp.TableAlias) or not alias.name:
        return None
    if isinstance(function, exp.Unnest):
        if len(function.expressions) != 1 or function.args.get("offset") or function.args.get("ordinality"):
            return None
        expansion = function.expressions[0]
    elif isinstance(function, exp.Table) and isinstance(function.this, exp.GenerateSeries):
        expansion = function.this
    elif isinstance(function, exp.Lateral) and not function.args.get("view") and not function.args.get("outer") \
            and isinstance(function.this, exp.Subquery) and isinstance(function.this.this, exp.Select):
        return _projection(function.this.this, alias)
    else:
        return None
    if len(alias.columns) != 1:
        return None
    return [(alias.columns[0].name, exp.Explode(this=expansion.copy()))]


def _projection(select: exp.Select, alias: exp.TableAlias) -> list[tuple[str, exp.Expression]] | None:
    if any(select.args.get(key) for key in ("from_", "where", "group", "having", "qualify", "order", "limit",
                                            "offset", "distinct", "with_", "joins")) \
            or any(e.find(exp.AggFunc, exp.Window, exp.Query, exp.Star) for e in select.expressions):
        return None
    expressions = select.expressions
    if alias.columns:
        if len(alias.columns) != len(expressions):
            return None
        names = [c.name for c in alias.columns]
    else:
        names = [e.alias_or_name if isinstance(e, (exp.Alias, exp.Column)) else "" for e in expressions]
    if not all(names):
        return None  # DuckDB names an unaliased expression after its text: leave it
    return [(name, e.unalias() if isinstance(e, exp.Alias) else e) for name, e in zip(names, expressions)]


def _only_relation(expressions: list[exp.Expression], earlier: list[exp.Expression], tables, ctes, added):
    """The one earlier relation all of the expressions' columns come from, if it is a source table (or a
    derived table this rewrite made from one); None when there are none (a constant), several, or any
    column is not resolvable from the schema, or an expression holds a subquery."""
    if any(e.find(exp.Query) for e in expressions):
        return None
    columns = [node for e in expressions for node in e.find_all(exp.Column)]
    if not columns:
        return None
    candidates = {}
    for relation in earlier:
        if isinstance(relation, exp.Subquery) and id(relation) in added:
            candidates[relation.alias_or_name.lower()] = (relation, added[id(relation)])
        elif isinstance(relation, exp.Table) and isinstance(relation.this, exp.Identifier) \
                and not relation.args.get("db") and relation.name.lower() in tables \
                and relation.name.lower() not in ctes:
            candidates[relation.alias_or_name.lower()] = (relation, tables[relation.name.lower()])
        else:
            candidates[relation.alias_or_name.lower()] = (None, None)  # its columns are unknown here
    found = set()
    for node in columns:
        if node.table:
            match = candidates.get(node.table.lower())
            if match is None or match[0] is None or node.name.lower() not in match[1]:
                return None
            found.add(node.table.lower())
        else:
            owners = [key for key, (relation, names) in candidates.items() if names is None or node.name.lower() in names]
            if len(owners) != 1 or candidates[owners[0]][0] is None:
                return None
            found.add(owners[0])
    return candidates[found.pop()][0] if len(found) == 1 else None
