"""Delta rule for aggregate stages (GROUP BY, global aggregates, DISTINCT): recompute the touched groups.

A deletion from the input can only change the groups whose keys appear among the deleted (or inserted)
input rows. Those groups are deleted from the stage and recomputed from the input with the view's own
SELECT, GROUP BY and HAVING, so every deterministic aggregate is exact: MIN/MAX after the extreme row
left, COUNT DISTINCT, AVG, even user-defined ones. Work is proportional to the touched groups.
Group keys are matched with IS NOT DISTINCT FROM, so NULL keys form a group like any other.
"""
from __future__ import annotations

from sqlglot import exp

from ivm.delta.materialise import aggregate_select, insert_statement, key_column
from ivm.delta.rids import RidSet
from ivm.plan.nodes import AggregateStage
from ivm.sql import RID, and_all, column, ident, internal_table, null_safe_eq

AFFECTED = "__ivm_affected"  # the temporary relation of touched group keys


def affected_keys_query(stage: AggregateStage, gone: str | None, inserted: RidSet) -> exp.Query:
    """Distinct group keys of the input rows that left (read from relation ``gone``) or entered."""
    keys = [exp.alias_(k.copy(), ident(key_column(i))) for i, k in enumerate(stage.keys)]
    parts = []
    if gone is not None:
        parts.append(exp.select(*keys).from_(exp.Table(this=ident(gone), alias=exp.TableAlias(this=ident("__core")))))
    if inserted:
        parts.append(exp.select(*[k.copy() for k in keys]).from_(internal_table(stage.source, "__core"))
                     .where(inserted.contains(column(RID, "__core"))))
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return exp.select(exp.Star()).from_(exp.Subquery(this=query, alias=exp.TableAlias(this=ident("__k")))).distinct()


def _matches(stage: AggregateStage, left) -> exp.Expression:
    return and_all(null_safe_eq(left(i, k), column(key_column(i), AFFECTED)) for i, k in enumerate(stage.keys))


def delete_statement(stage: AggregateStage, *, return_rows: bool = False) -> exp.Delete:
    """Delete the touched groups from the stage (every row for a global aggregate)."""
    statement = exp.Delete(this=internal_table(stage.name))
    if stage.keys:
        statement.set("using", [exp.Table(this=ident(AFFECTED))])
        statement.set("where", exp.Where(this=_matches(stage, lambda i, k: column(key_column(i), stage.name))))
    statement.set("returning", exp.Returning(expressions=[exp.Star()] if return_rows else [column(RID)]))
    return statement


def recompute_groups_query(stage: AggregateStage) -> exp.Select:
    """The stage's SELECT restricted to the touched groups (all of them for a global aggregate)."""
    select = aggregate_select(stage)
    if stage.keys:
        select = select.join(exp.Table(this=ident(AFFECTED)), on=_matches(stage, lambda i, k: k.copy()))
    return select


def insert_statement_for(stage: AggregateStage) -> exp.Insert:
    return insert_statement(stage, recompute_groups_query(stage))
