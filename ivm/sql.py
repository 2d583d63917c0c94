"""Building blocks for the SQL that ivm emits, and the one place where it is rendered.

Every statement ivm runs is a sqlglot expression until :func:`render` turns it into text for a dialect.
Keeping the dialect a parameter here (and nowhere else) is what lets the same maintenance plan run on
another engine later.
"""
from __future__ import annotations

import functools
from typing import Iterable, Mapping, Sequence

from sqlglot import exp

INTERNAL_SCHEMA = "_ivm"
RAW_SCHEMA = "_ivm_sql"  # not _ivm: DuckDB resolves a view's unqualified names in the view's schema first
RID = "__ivm_rid"
DIALECT = "duckdb"


def _chained_collations_read_whole() -> None:
    """DuckDB chains collations with a dot (``w COLLATE NOACCENT.NOCASE``); sqlglot's DuckDB parser reads the
    chain as column ``nocase`` of a table ``noaccent``, which qualifying a view then cannot find (the view was
    recomputed as a whole) and a deletion predicate was refused for naming another table. Read it as one
    name, as sqlglot reads a single collation; it renders back unchanged.

    Example:
        >>> import sqlglot
        >>> tree = sqlglot.parse_one("SELECT w COLLATE NOACCENT.NOCASE AS w FROM t", read=DIALECT)
        >>> tree.find(exp.Collate).expression, tree.sql(DIALECT)
        (Var(this=NOACCENT.NOCASE), 'SELECT w COLLATE NOACCENT.NOCASE AS w FROM t')
    """
    from sqlglot.dialects.duckdb import DuckDB

    parser = DuckDB.Parser
    if getattr(parser, "_ivm_collations", False):
        return
    original = parser._normalize_collate

    def normalise(self, collate: exp.Collate) -> None:
        chain = collate.expression
        if isinstance(chain, exp.Column) and len(chain.parts) > 1 \
                and all(isinstance(part, exp.Identifier) and not part.quoted for part in chain.parts):
            collate.set("expression", exp.var(".".join(part.name for part in chain.parts)))
            return
        original(self, collate)
    parser._normalize_collate = normalise
    parser._ivm_collations = True


_chained_collations_read_whole()


def render(expression: exp.Expression, dialect: str = DIALECT, *, copy: bool = True) -> str:
    """Render one expression as SQL text. ``copy=False`` skips sqlglot's defensive copy of the tree (the
    generator may rewrite it in place): only for a tree that is used once and thrown away.

    Example:
        >>> render(column("a").eq(1))
        '"a" = 1'
    """
    return expression.sql(dialect=dialect, copy=copy)


def deduplicated_names(names: Iterable[str]) -> list[str]:
    """DuckDB's names for a query's duplicate output names (views and derived tables alike): the second
    ``a`` becomes ``a_1``, a name already taken moves on to ``a_2`` (case-insensitive, case kept).

    Example:
        >>> deduplicated_names(["s", "S", "s", "s_1"])
        ['s', 'S_1', 's_2', 's_1_1']
    """
    seen, result = set(), []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate.lower())
        result.append(candidate)
    return result


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def internal_table(name: str, alias: str | None = None) -> exp.Table:
    """The table that stores relation ``name`` (a source, a view or a stage) inside the ivm schema."""
    table = exp.Table(this=ident(name), db=ident(INTERNAL_SCHEMA))
    if alias:
        table.set("alias", exp.TableAlias(this=ident(alias)))
    return table


def user_table(name: str) -> exp.Table:
    return exp.Table(this=ident(name))


def literal(value) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def group_value(key: exp.Expression) -> exp.Expression:
    """``key`` as a GROUP BY item DuckDB reads as a value: an integer constant there (``5``, ``-1``, ``(2)``) is
    read as the position of a SELECT item, so it is cast (to BIGINT, which every such constant fits).

    Example:
        >>> import sqlglot
        >>> [group_value(sqlglot.parse_one(k)).sql("duckdb") for k in ("-1", "(2)", "k", "'a'")]
        ['CAST(-1 AS BIGINT)', 'CAST((2) AS BIGINT)', 'k', "'a'"]
    """
    inner = key.unnest()
    if isinstance(inner, exp.Neg):
        inner = inner.this.unnest()
    if isinstance(inner, exp.Literal) and inner.is_int:
        return exp.cast(key, "BIGINT")
    return key


def is_asof(join: exp.Join) -> bool:
    """An ``ASOF [LEFT] JOIN``: it pairs each row with its best match, not with every match."""
    return (join.args.get("method") or "").upper() == "ASOF"


def in_values(target: exp.Expression, values: Sequence[int]) -> exp.Expression:
    """``target IN (v1, v2, ...)``: literal lists let DuckDB probe an ART index instead of scanning."""
    return exp.In(this=target, expressions=[exp.Literal.number(v) for v in values])


def in_relation(target: exp.Expression, relation: str, key: str = RID) -> exp.Expression:
    """``target IN (SELECT key FROM relation)`` for deltas too big to spell out as literals."""
    subquery = exp.select(column(key)).from_(exp.Table(this=ident(relation)))
    return exp.In(this=target, query=exp.Subquery(this=subquery))


def null_safe_eq(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.NullSafeEQ(this=left, expression=right)


def and_all(conditions: Iterable[exp.Expression]) -> exp.Expression:
    conditions = list(conditions)
    if not conditions:
        return exp.true()
    return exp.and_(*conditions) if len(conditions) > 1 else conditions[0]


def or_all(conditions: Iterable[exp.Expression]) -> exp.Expression:
    conditions = list(conditions)
    if not conditions:
        return exp.false()
    return exp.or_(*conditions) if len(conditions) > 1 else conditions[0]


def inside(node: exp.Expression | None, ancestor: exp.Expression) -> bool:
    """Whether ``node`` is ``ancestor`` or lies below it in the tree."""
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def returning(statement: exp.Expression, *names: str) -> exp.Expression:
    statement.set("returning", exp.Returning(expressions=[column(n) for n in names] or [exp.Star()]))
    return statement


# ---------------------------------------------------------------------------------------------------------
# Statement templates: a statement is built and rendered once with named slots, then run many times with the
# slots filled in (names of temporary tables, sets of row ids). Rendering with sqlglot costs milliseconds per
# statement, more than DuckDB needs to run most delta statements, so hot paths render once per stage.

SLOT = "__ivm_slot_"


def slot(name: str) -> str:
    """The stand-in name of a temporary table (or of a relation of row ids) in a template."""
    return SLOT + name


@functools.lru_cache(maxsize=4096)
def quoted_identifier(name: str, dialect: str = DIALECT) -> str:
    """``name`` as a quoted identifier (cached: templates are filled on every deletion)."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def fill(sql: str, tables: Mapping[str, str] | None = None, ids: Mapping[str, object] | None = None,
         dialect: str = DIALECT) -> str:
    """Fill a rendered template: ``tables`` maps slots to relations as SQL text (a quoted table name or a
    parenthesised query, as :attr:`ivm.store.maintain.Change.gone` holds them); ``ids`` maps slots that
    stood for ``x IN (SELECT __ivm_rid FROM slot)`` to a :class:`ivm.delta.rids.RidSet` (a literal list
    when it holds its values, which lets DuckDB probe an index)."""
    quote = functools.partial(quoted_identifier, dialect=dialect)
    for name, rid_set in (ids or {}).items():
        pattern = f"IN (SELECT {quote(RID)} FROM {quote(SLOT + name)})"
        if getattr(rid_set, "relation", None) is not None:
            replacement = f"IN (SELECT {quote(RID)} FROM {quote(rid_set.relation)})"
        elif getattr(rid_set, "values", ()):
            replacement = "IN (" + ", ".join(str(int(v)) for v in rid_set.values) + ")"
        else:
            replacement = "IN (SELECT NULL WHERE FALSE)"
        sql = sql.replace(pattern, replacement)
    for name, relation in (tables or {}).items():
        sql = sql.replace(quote(SLOT + name), relation)
    return sql
