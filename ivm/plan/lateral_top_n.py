"""Top-n per row of a LATERAL subquery as a window over its table: decorrelation of the top-n-per-group idiom
(and a LATERAL subquery without LIMIT as a plain join, :func:`_joined`).

``FROM t CROSS JOIN LATERAL (SELECT u.x FROM u WHERE u.k = t.k ORDER BY u.x DESC LIMIT 3) AS l`` pairs each row
of ``t`` with the three largest ``u.x`` of its ``k``. Which rows those are depends only on ``u.k``, not on the
rest of ``t``'s row, so it is the join of ``t`` with the top three rows of every ``u.k`` partition:

    FROM t JOIN (SELECT u.x, u.k AS __ivm_lk0 FROM u
                 QUALIFY row_number() OVER (PARTITION BY u.k ORDER BY u.x DESC) <= 3) AS l ON l.__ivm_lk0 = t.k

The same bag of rows (a NULL key matches nothing either way; ties are broken arbitrarily by both), and one the
planner maintains: a window stage recomputes only the partitions a deletion touches, where the LATERAL made the
whole view recompute. ``LEFT JOIN LATERAL (..) ON cond`` becomes a LEFT JOIN on the keys and ``cond``; OFFSET
becomes a lower bound on the row number.

Rewritten only when the subquery is a plain filtered scan or join (no aggregate, DISTINCT, window, nested
subquery) with ORDER BY and a constant LIMIT, and reads the outer row only through conjuncts of its WHERE of
the form ``<column of the subquery's own tables> = <column of the outer row>`` of one type and collation (a
comparison that casts would match several partitions). Anything else is left as
written (and falls back, as before). Runs on qualified queries: every column names its table.
"""
from __future__ import annotations

from typing import Mapping

from sqlglot import exp

from ivm.sql import column, ident

Schema = Mapping[str, Mapping[str, str]]

KEY_PREFIX = "__ivm_lk"


def lateral_top_n_as_windows(query: exp.Query, schema: Schema) -> exp.Query:
    """Rewrite ``query`` in place (after qualification) and return it. ``schema``: the column types (with
    their collations) of the tables it reads."""
    types = {name.lower(): {c.lower(): t for c, t in columns.items()} for name, columns in schema.items()}
    for select in list(query.find_all(exp.Select)):
        joins = select.args.get("joins") or []
        for position, join in enumerate(joins):
            later = joins[position + 1:]
            if any((j.side or "").upper() in ("RIGHT", "FULL") for j in later):
                continue  # a comma or CROSS JOIN turned into JOIN .. ON would regroup a later outer join
            replacement = _decorrelated(select, join, position, types)
            if replacement is not None:
                join.replace(replacement)
    return query


def _decorrelated(select: exp.Select, join: exp.Join, position: int, types) -> exp.Join | None:
    lateral = join.this
    if not isinstance(lateral, exp.Lateral) or not isinstance(lateral.this, exp.Subquery) \
            or not isinstance(lateral.this.this, exp.Select) or lateral.args.get("view"):
        return None
    alias = lateral.args.get("alias")
    if alias is None or not alias.name or alias.args.get("columns"):
        return None
    side, kind = (join.side or "").upper(), (join.kind or "").upper()
    if join.args.get("using") or join.args.get("method") or side not in ("", "LEFT") \
            or (side == "" and kind not in ("", "CROSS", "INNER")):
        return None
    inner = lateral.this.this
    if not _plain(inner):
        return None
    own_relations = [inner.args["from_"].this] + [j.this for j in inner.args.get("joins") or []]
    earlier_relations = [select.args["from_"].this] + [j.this for j in select.args["joins"][:position]]
    own, earlier = _relation_names(own_relations), _relation_names(earlier_relations)
    if own is None or earlier is None or own & earlier:
        return None
    if not any(inner.args.get(arg) for arg in ("limit", "offset")):
        return _joined(join, inner, alias, own, earlier)
    n, offset = _constant(inner.args.get("limit")), _constant(inner.args.get("offset"), default=0)
    order = inner.args.get("order")
    if n is None or offset is None or order is None:
        return None
    kept, keys = _split_where(inner.args.get("where"), own, earlier)
    if keys is None or not keys or not all(_same_type(inner_key, outer_key, own_relations + earlier_relations, types)
                                            for inner_key, outer_key in keys):
        return None
    body = inner.copy()
    body.set("where", exp.Where(this=exp.and_(*[c.copy() for c in kept])) if kept else None)
    ordering = _order_terms(body)
    if ordering is None:
        return None
    for arg in ("order", "limit", "offset"):
        body.set(arg, None)
    if any(c.table not in own for node in (body, *ordering) for c in node.find_all(exp.Column)):
        return None  # reads the outer row (or a query further out) elsewhere than in a key conjunct
    taken = {item.alias_or_name.lower() for item in body.expressions}
    names = []
    for i, (inner_key, _) in enumerate(keys):
        name = _fresh(f"{KEY_PREFIX}{i}", taken)
        names.append(name)
        body.append("expressions", exp.alias_(inner_key.copy(), ident(name)))
    number = exp.Window(this=exp.RowNumber(), partition_by=[k.copy() for k, _ in keys],
                        order=exp.Order(expressions=ordering))
    bound = exp.LTE(this=number, expression=exp.Literal.number(offset + n))
    if offset:
        bound = exp.and_(exp.GT(this=number.copy(), expression=exp.Literal.number(offset)), bound)
    body.set("qualify", exp.Qualify(this=bound))
    matches = [exp.EQ(this=column(name, alias.name), expression=outer_key.copy())
               for name, (_, outer_key) in zip(names, keys)]
    matches += _written_on(join)
    return exp.Join(this=exp.Subquery(this=body, alias=alias.copy()), on=exp.and_(*matches),
                    side="LEFT" if side == "LEFT" else None)


def _joined(join: exp.Join, inner: exp.Select, alias: exp.TableAlias, own: set[str], earlier: set[str]
            ) -> exp.Join | None:
    """A LATERAL subquery without LIMIT as a join: ``t, LATERAL (SELECT u.w FROM u WHERE u.k = t.k AND u.v > 0)
    AS l`` pairs each row of ``t`` with the rows of ``u`` that pass, which is ``t JOIN (SELECT u.w, u.k AS
    __ivm_lk0 FROM u WHERE u.v > 0) AS l ON l.__ivm_lk0 = t.k``. Any conjunct reading the outer row moves into
    the ON (the columns of the subquery's tables it reads become outputs), so it compares as before; a LEFT
    JOIN LATERAL keeps its own ON beside them. An ORDER BY without LIMIT orders nothing and goes."""
    kept, correlated = [], []
    where = inner.args.get("where")
    conjuncts = (where.this.flatten() if isinstance(where.this, exp.And) else [where.this]) if where else []
    for conjunct in conjuncts:
        tables = {c.table for c in conjunct.find_all(exp.Column)}
        if not tables <= own | earlier or conjunct.find(exp.Select):
            return None
        (kept if tables <= own else correlated).append(conjunct)
    body = inner.copy()
    body.set("where", exp.Where(this=exp.and_(*[c.copy() for c in kept])) if kept else None)
    body.set("order", None)
    if any(c.table not in own for c in body.find_all(exp.Column)):
        return None  # the select list reads the outer row
    taken = {item.alias_or_name.lower() for item in body.expressions}
    exposed: dict[tuple[str, str], str] = {}
    conditions = []
    for conjunct in correlated:
        condition = conjunct.copy()
        for read in list(condition.find_all(exp.Column)):
            if read.table not in own:
                continue
            key = (read.table, read.name)
            if key not in exposed:
                name = exposed[key] = _fresh(f"{KEY_PREFIX}{len(exposed)}", taken)
                body.append("expressions", exp.alias_(read.copy(), ident(name)))
            read.replace(column(exposed[key], alias.name))
        conditions.append(condition)
    conditions += _written_on(join)
    left = (join.side or "").upper() == "LEFT"
    if not conditions:
        return exp.Join(this=exp.Subquery(this=body, alias=alias.copy()), on=exp.true() if left else None,
                        kind=None if left else "CROSS", side="LEFT" if left else None)
    return exp.Join(this=exp.Subquery(this=body, alias=alias.copy()), on=exp.and_(*conditions),
                    side="LEFT" if left else None)


def _written_on(join: exp.Join) -> list[exp.Expression]:
    """The join's own ON condition (of a LEFT JOIN LATERAL), unless it is absent or TRUE."""
    on = join.args.get("on")
    return [] if on is None or isinstance(on, exp.Boolean) and on.this is True else [on.copy()]


def _fresh(name: str, taken: set[str]) -> str:
    """``name`` (with ``_`` appended until no output of the subquery has it), now taken."""
    while name.lower() in taken:
        name += "_"
    taken.add(name.lower())
    return name


def _same_type(inner: exp.Expression, outer: exp.Expression, relations: list[exp.Expression], types) -> bool:
    """Whether a key equality compares two columns of one type (and collation): then it matches exactly the
    stored values the window partitions by. Across types DuckDB casts first, and several stored values
    ('1', '01', ' 1' as INTEGER; 'a', 'A' under NOCASE) match one outer key while each is its own partition."""
    if not (isinstance(inner, exp.Column) and isinstance(outer, exp.Column)):
        return False
    found = []
    for key in (inner, outer):
        relation = next((r for r in relations if r.alias_or_name == key.table), None)
        if not isinstance(relation, exp.Table) or relation.args.get("db"):
            return False
        found.append(types.get(relation.name.lower(), {}).get(key.name.lower()))
    return found[0] is not None and found[0] == found[1]


def _constant(node: exp.Expression | None, default: int | None = None) -> int | None:
    """A LIMIT / OFFSET that is a non-negative integer literal, or ``default`` when absent."""
    if node is None:
        return default
    value = node.args.get("expression") or node.this
    if isinstance(value, exp.Literal) and value.is_int and int(value.this) >= 0:
        return int(value.this)
    return None


def _plain(inner: exp.Select) -> bool:
    """A filtered scan or join of tables: nothing whose rows a window over it would change."""
    if any(inner.args.get(arg) for arg in ("group", "having", "distinct", "qualify", "with_", "with", "windows")):
        return False
    if inner.find(exp.AggFunc, exp.Window, exp.Lateral, exp.Unnest):
        return False
    nested = [s for s in inner.find_all(exp.Select, exp.Subquery, exp.Exists) if s is not inner]
    relations = [inner.args["from_"].this] + [j.this for j in inner.args.get("joins") or []]
    return not nested and all(isinstance(r, exp.Table) and isinstance(r.this, exp.Identifier) for r in relations)


def _relation_names(relations: list[exp.Expression]) -> set[str] | None:
    names = set()
    for relation in relations:
        name = relation.alias_or_name
        if not name:
            return None
        names.add(name)
    return names


def _split_where(where: exp.Where | None, own: set[str], earlier: set[str]):
    """The WHERE conjuncts that read only the subquery's tables, and the (inner, outer) expression pairs of
    the key equalities; None for the pairs when the outer row is read any other way."""
    if where is None:
        return [], []
    kept, keys = [], []
    for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        tables = {c.table for c in conjunct.find_all(exp.Column)}
        if tables <= own:
            kept.append(conjunct)
            continue
        if not isinstance(conjunct, exp.EQ):
            return kept, None
        pair = _key_pair(conjunct.this, conjunct.expression, own, earlier) \
            or _key_pair(conjunct.expression, conjunct.this, own, earlier)
        if pair is None:
            return kept, None
        keys.append(pair)
    return kept, keys


def _key_pair(inner: exp.Expression, outer: exp.Expression, own: set[str], earlier: set[str]):
    inner_tables = {c.table for c in inner.find_all(exp.Column)}
    outer_tables = {c.table for c in outer.find_all(exp.Column)}
    if inner_tables and inner_tables <= own and outer_tables and outer_tables <= earlier:
        return inner, outer
    return None


def _order_terms(body: exp.Select) -> list[exp.Ordered] | None:
    """The ORDER BY terms with output aliases and positions replaced by the expressions they name: the window
    sees the subquery's tables, not its select list."""
    items = body.expressions
    by_alias = {item.alias.lower(): item.this for item in items if isinstance(item, exp.Alias)}
    terms = []
    for ordered in body.args["order"].expressions:
        term = ordered.copy()
        value = term.this
        if isinstance(value, exp.Literal) and value.is_int:
            index = int(value.this) - 1
            if not 0 <= index < len(items):
                return None
            target = items[index]
            term.set("this", (target.this if isinstance(target, exp.Alias) else target).copy())
        elif isinstance(value, exp.Column) and not value.table:
            if value.name.lower() not in by_alias:
                return None
            term.set("this", by_alias[value.name.lower()].copy())
        terms.append(term)
    return terms
