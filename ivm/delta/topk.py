"""Delta rule for top-k stages (ORDER BY ... LIMIT k OFFSET m).

The stage keeps the k rows at positions m+1..m+k of its input in the view's order, ties broken by every
output column (so the kept bag is one valid answer, and always the same one). It stores each kept row's
input row id and its sort keys. A change leaves the kept rows as they are when

* no deleted input row is a kept row, and (with an OFFSET) every deleted row sorted strictly after the
  last kept row, so no position moved; and
* no inserted input row sorts strictly before the last kept row (and k rows are kept, so nothing was
  missing).

Otherwise the top k are recomputed from the input (refilling from below what left) and the difference
applied, so readers see only the rows that entered or left.
"""
from __future__ import annotations

from sqlglot import exp

from ivm.delta.materialise import lineage_column
from ivm.plan.nodes import OrderKey, TopKStage
from ivm.sql import RID, and_all, column, ident, internal_table, null_safe_eq, or_all

LINEAGE = lineage_column(0)


def hidden_columns(stage: TopKStage) -> list[str]:
    return [*stage.hidden, LINEAGE]


def keys(stage: TopKStage) -> list[OrderKey]:
    """The view's sort keys, then every output column not among them (ascending, NULLs last) to break ties."""
    named = {key.name for key in stage.order}
    return [*stage.order, *[OrderKey(name=c, desc=False, nulls_first=False) for c in stage.columns if c not in named]]


def _ordered(stage: TopKStage, table: str | None = None, reverse: bool = False) -> list[exp.Ordered]:
    result = []
    for key in keys(stage):
        desc, nulls_first = (not key.desc, not key.nulls_first) if reverse else (key.desc, key.nulls_first)
        result.append(exp.Ordered(this=column(key.name, table), desc=desc, nulls_first=nulls_first))
    return result


def candidates(stage: TopKStage, rows: exp.Expression | None = None) -> exp.Select:
    """The input rows as the stage sees them (its columns, sort keys and lineage); ``rows`` replaces the
    input table (a table or query with the input's columns)."""
    select = stage.select.copy()
    if rows is not None:
        for table in select.find_all(exp.Table):
            if table.alias_or_name == stage.alias and table.args.get("db"):
                source = rows.copy() if isinstance(rows, exp.Table) else exp.Subquery(this=rows.copy())
                source.set("alias", exp.TableAlias(this=ident(stage.alias)))
                table.replace(source)
                break
    return select.select(exp.alias_(column(RID, stage.alias), ident(LINEAGE)), append=True)


def body(stage: TopKStage) -> exp.Query:
    names = [*stage.columns, *hidden_columns(stage)]
    inner = exp.Subquery(this=candidates(stage), alias=exp.TableAlias(this=ident("__c")))
    select = exp.select(*[column(n, "__c") for n in names]).from_(inner)
    select = select.order_by(*_ordered(stage, "__c"))
    if stage.limit is not None:
        select = select.limit(stage.limit)
    if stage.offset:
        select = select.offset(stage.offset)
    return select


def _value_before(a: exp.Expression, b: exp.Expression, key: OrderKey) -> exp.Expression:
    """``a`` sorts strictly before ``b`` in the key's direction (NULL-safe, never NULL)."""
    compare = exp.GT(this=a.copy(), expression=b.copy()) if key.desc else exp.LT(this=a.copy(), expression=b.copy())
    compare = exp.func("COALESCE", compare, exp.false())
    a_null, b_null = exp.Is(this=a.copy(), expression=exp.Null()), exp.Is(this=b.copy(), expression=exp.Null())
    if key.nulls_first:
        nulls = exp.and_(a_null, exp.not_(b_null))
    else:
        nulls = exp.and_(exp.not_(a_null), b_null)
    return exp.or_(nulls, compare)


def before(stage: TopKStage, a: str, b: str) -> exp.Expression:
    """Row ``a`` sorts strictly before row ``b`` (both aliases of relations with the stage's columns)."""
    terms = []
    order = keys(stage)
    for i, key in enumerate(order):
        equal = [null_safe_eq(column(k.name, a), column(k.name, b)) for k in order[:i]]
        terms.append(and_all(equal + [_value_before(column(key.name, a), column(key.name, b), key)]))
    return exp.Paren(this=or_all(terms))


def last_kept(stage: TopKStage) -> exp.Select:
    """The kept rows no other kept row sorts after (several only when tied on every key, which the callers
    compare alike). Not ``ORDER BY .. DESC LIMIT 1``: DuckDB 2.0.1's Top-N pushes its boundary into the scan as
    a dynamic filter, which returned no row at all over a DOUBLE column holding NaN (seen after deletions)."""
    names = [*stage.columns, *stage.hidden]
    later = exp.select(exp.Literal.number(1)).from_(internal_table(stage.name, "__o")).where(
        before(stage, "__l", "__o"))
    return exp.select(*[exp.alias_(column(n, "__l"), ident(n)) for n in names]).from_(
        internal_table(stage.name, "__l")).where(exp.not_(exp.Exists(this=later)))


def kept_count(stage: TopKStage) -> exp.Select:
    return exp.select(exp.func("COUNT", exp.Star())).from_(internal_table(stage.name))


def any_kept(stage: TopKStage, deleted) -> exp.Select:
    """Whether a deleted input row is a kept row."""
    return exp.select(exp.Exists(this=exp.select(exp.Literal.number(1)).from_(internal_table(stage.name))
                                 .where(deleted.contains(column(LINEAGE)))))


def any_candidate(stage: TopKStage, rows: exp.Expression, compare: str | None) -> exp.Select:
    """Whether ``rows`` hold a candidate (a row passing the stage's WHERE) that sorts strictly before the
    last kept row (``compare='before'``), not strictly after it (``'not_after'``), or at all (None)."""
    inner = exp.Subquery(this=candidates(stage, rows), alias=exp.TableAlias(this=ident("__c")))
    select = exp.select(exp.Literal.number(1)).from_(inner)
    if compare is not None:
        select = select.join(exp.Subquery(this=last_kept(stage), alias=exp.TableAlias(this=ident("__last"))),
                             join_type="CROSS")
        condition = before(stage, "__c", "__last") if compare == "before" \
            else exp.not_(before(stage, "__last", "__c"))
        select = select.where(condition)
    return exp.select(exp.Exists(this=select))


def fresh_query(stage: TopKStage) -> exp.Query:
    return body(stage)
