"""Full materialisation of a stage: the query whose rows a stage table holds, lineage and row ids included.

This is also the reference every delta rule must agree with: after any deletion, a stage table equals
what :func:`body` computes from the current inputs (up to row ids).
"""
from __future__ import annotations

from sqlglot import exp

from ivm.plan.nodes import AggregateStage, RecomputeStage, SpjStage, Stage, StateColumn
from ivm.sql import RID, column, ident, internal_table


def lineage_column(index: int) -> str:
    return f"__ivm_l{index}"


def key_column(index: int) -> str:
    return f"__ivm_k{index}"


def hidden_columns(stage: Stage) -> list[str]:
    """Columns a stage table stores beside the user's columns (the row id comes first and is not listed)."""
    if isinstance(stage, SpjStage):
        return [lineage_column(i) for i in range(stage.lineage_count)]
    if isinstance(stage, AggregateStage):
        return [key_column(i) for i in range(len(stage.keys))] + [s.name for s in stage.state]
    more = _more_rules(stage)
    if more is not None:
        return more.hidden_columns(stage)
    return []


def stored_columns(stage: Stage) -> list[str]:
    return [RID, *stage.columns, *hidden_columns(stage)]


def spj_branch(stage: SpjStage, index: int, select: exp.Select | None = None) -> exp.Select:
    """Branch ``index`` with its lineage columns; ``select`` replaces the branch query (for deltas)."""
    branch = stage.branches[index]
    select = (select or branch.select).copy()
    own = {scan.lineage: scan.alias for scan in branch.scans}
    lineage = []
    for i in range(stage.lineage_count):
        value = column(RID, own[i]) if i in own else exp.cast(exp.Null(), "BIGINT")
        lineage.append(exp.alias_(value, ident(lineage_column(i))))
    return select.select(*lineage, append=True)


def state_expression(state: StateColumn) -> exp.Expression:
    """The aggregate computing one running state column over ``__core`` rows."""
    argument = state.argument.copy() if state.argument is not None else None
    if state.function == "count_star":
        return exp.Count(this=exp.Star())
    if state.function == "count":
        return exp.Count(this=argument)
    if state.function == "sum":
        return exp.func("COALESCE", exp.Sum(this=argument), exp.Literal.number(0))
    if state.function == "min":
        return exp.Min(this=argument)
    if state.function == "max":
        return exp.Max(this=argument)
    raise ValueError(f"unknown state function {state.function}")


def aggregate_select(stage: AggregateStage) -> exp.Select:
    select = stage.select.copy()
    keys = [exp.alias_(k.copy(), ident(key_column(i))) for i, k in enumerate(stage.keys)]
    states = [exp.alias_(state_expression(s), ident(s.name)) for s in stage.state]
    return select.select(*keys, *states, append=True)


def recompute_select(stage: RecomputeStage) -> exp.Select:
    """The fallback query, with its output columns renamed positionally to the stage's columns."""
    alias = exp.TableAlias(this=ident("__q"), columns=[ident(c) for c in stage.columns])
    return exp.select(*[column(c) for c in stage.columns]).from_(
        exp.Subquery(this=stage.query.copy(), alias=alias))


def body(stage: Stage) -> exp.Query:
    """The stage's rows without row ids."""
    if isinstance(stage, SpjStage):
        selects = [spj_branch(stage, i) for i in range(len(stage.branches))]
        query = selects[0]
        for select in selects[1:]:
            query = exp.union(query, select, distinct=False)
        return query
    if isinstance(stage, AggregateStage):
        return aggregate_select(stage)
    if isinstance(stage, RecomputeStage):
        return recompute_select(stage)
    more = _more_rules(stage)
    if more is not None:
        return more.body(stage)
    raise TypeError(f"no materialisation rule for {type(stage).__name__}")


def with_row_ids(query: exp.Query, columns: list[str], first_id: exp.Expression | int = 0) -> exp.Select:
    """``SELECT first_id + row_number() OVER () AS __ivm_rid, columns FROM (query)``."""
    start = first_id if isinstance(first_id, exp.Expression) else exp.Literal.number(first_id)
    number = exp.Window(this=exp.RowNumber())
    rid = exp.alias_(exp.Add(this=start, expression=number), ident(RID))
    return exp.select(rid, *[column(c, "__body") for c in columns]).from_(
        exp.Subquery(this=query, alias=exp.TableAlias(this=ident("__body"))))


def create_statement(stage: Stage) -> exp.Create:
    """``CREATE OR REPLACE TABLE _ivm.stage AS ...``: the full recompute of one stage."""
    select = with_row_ids(body(stage), stored_columns(stage)[1:])
    return exp.Create(this=internal_table(stage.name), kind="TABLE", replace=True, expression=select)


def next_id(stage_name: str) -> exp.Expression:
    """``(SELECT COALESCE(MAX(__ivm_rid), 0) FROM stage)``: ids for inserted rows continue after the last."""
    top = exp.select(exp.func("COALESCE", exp.func("MAX", column(RID)), exp.Literal.number(0))) \
        .from_(internal_table(stage_name))
    return exp.Subquery(this=top)


def insert_statement(stage: Stage, query: exp.Query) -> exp.Insert:
    """Insert ``query``'s rows (no row ids yet) into the stage with fresh row ids, returning the ids."""
    columns = stored_columns(stage)
    target = exp.Schema(this=internal_table(stage.name), expressions=[ident(c) for c in columns])
    insert = exp.Insert(this=target, expression=with_row_ids(query, columns[1:], next_id(stage.name)))
    insert.set("returning", exp.Returning(expressions=[column(RID)]))
    return insert


def _more_rules(stage: Stage):
    """The module materialising a per-row, partition or top-k stage (imported late: they import this one)."""
    from ivm.delta import partition, perrow, topk
    from ivm.plan.nodes import PartitionStage, PerRowStage, TopKStage

    return {PerRowStage: perrow, PartitionStage: partition, TopKStage: topk}.get(type(stage))
