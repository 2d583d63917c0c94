"""Delta rule for aggregate stages (GROUP BY, global aggregates, DISTINCT): recompute the touched groups.

A deletion from the input can only change the groups whose keys appear among the deleted (or inserted)
input rows. Those groups are deleted from the stage and recomputed from the input with the view's own
SELECT, GROUP BY and HAVING, so every deterministic aggregate is exact: MIN/MAX after the extreme row
left, COUNT DISTINCT, AVG, even user-defined ones. Work is proportional to the touched groups.
Group keys are matched with IS NOT DISTINCT FROM, so NULL keys form a group like any other.
"""
from __future__ import annotations

from sqlglot import exp

from ivm.delta.materialise import aggregate_select, insert_statement, key_column, state_expression
from ivm.delta.rids import RidSet
from ivm.plan.nodes import AggregateStage
from ivm.plan.state import COUNT_STAR
from ivm.sql import RID, and_all, column, ident, internal_table, null_safe_eq, or_all

AFFECTED = "__ivm_affected"  # the temporary relation of touched group keys


def affected_keys_query(stage: AggregateStage, gone: str | exp.Query | None, inserted: RidSet) -> exp.Query:
    """Distinct group keys of the input rows that left (read from relation ``gone``) or entered."""
    keys = [exp.alias_(k.copy(), ident(key_column(i))) for i, k in enumerate(stage.keys)]
    parts = []
    if gone is not None:
        parts.append(exp.select(*keys).from_(gone_relation(gone)))
    if inserted:
        parts.append(exp.select(*[k.copy() for k in keys]).from_(internal_table(stage.source, "__core"))
                     .where(inserted.contains(column(RID, "__core"))))
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return exp.select(exp.Star()).from_(exp.Subquery(this=query, alias=exp.TableAlias(this=ident("__k")))).distinct()


def _matches(stage: AggregateStage, left) -> exp.Expression:
    return and_all(null_safe_eq(left(i, k), column(key_column(i), AFFECTED)) for i, k in enumerate(stage.keys))


def delete_statement(stage: AggregateStage, *, returning: bool = True) -> exp.Delete:
    """Delete the touched groups from the stage (every row for a global aggregate)."""
    statement = exp.Delete(this=internal_table(stage.name))
    if stage.keys:
        statement.set("using", [exp.Table(this=ident(AFFECTED))])
        statement.set("where", exp.Where(this=_matches(stage, lambda i, k: column(key_column(i), stage.name))))
    if returning:
        statement.set("returning", exp.Returning(expressions=[column(RID)]))
    return statement


def recompute_groups_query(stage: AggregateStage) -> exp.Select:
    """The stage's SELECT restricted to the touched groups (all of them for a global aggregate)."""
    select = aggregate_select(stage)
    if stage.keys:
        select = select.join(exp.Table(this=ident(AFFECTED)), on=_matches(stage, lambda i, k: k.copy()))
    return select


def insert_statement_for(stage: AggregateStage) -> exp.Insert:
    return insert_statement(stage, recompute_groups_query(stage))


# ---------------------------------------------------------------------------------------------------------
# Subtraction: COUNT, exact SUM/AVG and MIN/MAX while the extreme value survives.

DELTA = "__ivm_group_delta"  # per touched group: what the deleted rows contributed
LOST = "__ivm_lost"  # returned by the subtraction: the group's MIN/MAX may have left with the deleted rows


def gone_relation(gone: str | exp.Query) -> exp.Expression:
    """The deleted input rows as ``__core``: a temporary table's name, or a query over the input stage
    that is still valid because the input's own DELETE has not run yet."""
    alias = exp.TableAlias(this=ident("__core"))
    if isinstance(gone, str):
        return exp.Table(this=ident(gone), alias=alias)
    return exp.Subquery(this=gone.copy(), alias=alias)


SIGN = "__ivm_sign"  # +1 for a leaving input row, -1 for an entering one, in a signed group delta


def signed(stage: AggregateStage) -> bool:
    """Whether the stage can subtract a change that also inserts input rows: every state but MIN/MAX is
    linear in the rows (an entering row adds what a leaving one subtracts)."""
    return stage.subtractive and all(s.function not in ("min", "max") for s in stage.state)


def _signed_state(state) -> exp.Expression:
    """What the signed rows contribute to one running state (leaving rows count +1, entering ones -1)."""
    sign = column(SIGN, "__core")
    if state.function == "count_star":
        return exp.cast(exp.Sum(this=sign), "BIGINT")
    if state.function == "count":
        present = exp.not_(exp.Is(this=state.argument.copy(), expression=exp.Null()))
        return exp.cast(exp.Sum(this=exp.If(this=present, true=sign.copy(), false=exp.Literal.number(0))), "BIGINT")
    if state.function == "sum":  # the two signs summed apart: -1 * x would overflow x's type at its minimum
        def part(condition: exp.Expression) -> exp.Expression:
            return exp.func("COALESCE", exp.Sum(this=exp.If(this=condition, true=state.argument.copy())),
                            exp.Literal.number(0))
        zero = exp.Literal.number(0)
        return exp.Sub(this=part(exp.GT(this=sign.copy(), expression=zero)),
                       expression=part(exp.LT(this=sign.copy(), expression=zero.copy())))
    raise ValueError(f"{state.function} is not linear")


def signed_rows(stage: AggregateStage, gone: str | exp.Query | None, inserted: RidSet) -> exp.Subquery:
    """The leaving rows (sign +1) and the entering input rows (sign -1) as ``__core``."""
    parts = []
    if gone is not None:
        parts.append(exp.select(exp.Column(this=exp.Star(), table=ident("__core")),
                                exp.alias_(exp.Literal.number(1), ident(SIGN))).from_(gone_relation(gone)))
    if inserted:
        parts.append(exp.select(exp.Column(this=exp.Star(), table=ident("__core")),
                                exp.alias_(exp.Literal.number(-1), ident(SIGN)))
                     .from_(internal_table(stage.source, "__core")).where(inserted.contains(column(RID, "__core"))))
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return exp.Subquery(this=query, alias=exp.TableAlias(this=ident("__core")))


def group_delta_query(stage: AggregateStage, gone: str | exp.Query | None, *,
                      inserted: RidSet | None = None) -> exp.Select:
    """Aggregate the deleted input rows per group. With ``inserted`` (input rows that entered: only for a
    :func:`signed` stage) the entering rows count negatively, so subtracting the delta adds them. A global
    aggregate yields no row when no input row changed (its one group is not touched).

    Reads nothing but the leaving rows: joined with anything else, DuckDB stops probing the lineage index
    and scans the whole input."""
    keys = [exp.alias_(k.copy(), ident(key_column(i))) for i, k in enumerate(stage.keys)]
    if inserted:
        states = [exp.alias_(_signed_state(s), ident(s.name)) for s in stage.state]
        select = exp.select(*keys, *states).from_(signed_rows(stage, gone, inserted))
    else:
        states = [exp.alias_(state_expression(s), ident(s.name)) for s in stage.state]
        select = exp.select(*keys, *states).from_(gone_relation(gone))
    if stage.keys:
        return select.group_by(*[k.copy() for k in stage.keys])
    return select.having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(0)))


def offset_query(stage: AggregateStage) -> exp.Select:
    """The largest row id of the stage before the subtraction: updated groups move above it."""
    return exp.select(exp.func("COALESCE", exp.func("MAX", column(RID)), exp.Literal.number(0))).from_(
        internal_table(stage.name))


def renumber_statement(stage: AggregateStage) -> exp.Update:
    """Give the groups a subtraction marked (negative ids, see :func:`subtract_statement`) the ids after the
    largest id the stage had before it (the parameter ``?``), counting up from there: readers see each such
    group leave under its old id and enter under a new one, and ids grow by the number of updated groups.
    (Adding the largest id to each old id instead doubled a group's id on every deletion: 63 deletions
    overflowed BIGINT for a global aggregate that another view reads.)"""
    marked = exp.select(exp.alias_(column(RID), ident("__ivm_old")),
                        exp.alias_(exp.Add(this=exp.Placeholder(), expression=exp.Window(
                            this=exp.RowNumber(), over="OVER")), ident("__ivm_new"))).from_(
        internal_table(stage.name)).where(exp.LT(this=column(RID), expression=exp.Literal.number(0)))
    return exp.Update(this=internal_table(stage.name),
                      expressions=[exp.EQ(this=column(RID), expression=column("__ivm_new", "__ivm_renumber"))],
                      from_=exp.From(this=exp.Subquery(this=marked, alias=exp.TableAlias(this=ident("__ivm_renumber")))),
                      where=exp.Where(this=exp.EQ(this=column(RID, stage.name), expression=column("__ivm_old", "__ivm_renumber"))),
                      returning=exp.Returning(expressions=[column(RID)]))


def _delta_matches(stage: AggregateStage) -> exp.Expression:
    return and_all(null_safe_eq(column(key_column(i), stage.name), column(key_column(i), DELTA))
                   for i in range(len(stage.keys)))


def subtract_statement(stage: AggregateStage, gone: str | exp.Query | None, *, mark: bool = True) -> exp.Update:
    """One UPDATE: aggregate the leaving rows per group and subtract them from every touched group
    (``gone`` None: subtract the group delta table :data:`DELTA`, a signed delta made beforehand).

    All SET expressions read the row's old values, so outputs are written in terms of the new state.
    A MIN/MAX whose extreme may have left (the deleted extreme reaches the stored one) is set to NULL:
    RETURNING cannot see the old values, so that NULL is how the statement reports "recompute this
    group". A group whose extreme is NULL anyway is reported too; recomputing it is merely redundant.
    Returns per touched group its row id, its new row count and that flag, as :data:`LOST`. With ``mark``
    (readers match this stage's ids) the id is negated, which marks the group for :func:`renumber_statement`
    and tells its old id.
    """
    subtracted = {s.name for s in stage.state if s.function in ("count_star", "count", "sum")}
    extremes = [s for s in stage.state if s.function in ("min", "max")]

    def new_value(name: str) -> exp.Expression:
        if name in subtracted:
            return exp.Paren(this=exp.Sub(this=column(name, stage.name), expression=column(name, DELTA)))
        return column(name, stage.name)  # a MIN/MAX that changes is recomputed with its group

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            return new_value(node.name)
        return node

    assignments = [exp.EQ(this=column(s), expression=new_value(s)) for s in sorted(subtracted)]
    for state in extremes:
        reached = (exp.LTE if state.function == "min" else exp.GTE)(
            this=column(state.name, DELTA), expression=column(state.name, stage.name))
        assignments.append(exp.EQ(this=column(state.name), expression=exp.Case(
            ifs=[exp.If(this=reached, true=exp.null())], default=column(state.name, stage.name))))
    assignments += [exp.EQ(this=column(name), expression=output.copy().transform(rewrite))
                    for name, output in zip(stage.columns, stage.outputs)]
    if mark:
        assignments.append(exp.EQ(this=column(RID), expression=exp.Neg(this=column(RID, stage.name))))
    delta = exp.Table(this=ident(DELTA)) if gone is None else exp.Subquery(
        this=group_delta_query(stage, gone), alias=exp.TableAlias(this=ident(DELTA)))
    lost = or_all(exp.Is(this=column(s.name), expression=exp.null()) for s in extremes) if extremes else exp.false()
    return exp.Update(this=internal_table(stage.name), expressions=assignments, from_=exp.From(this=delta),
                      where=exp.Where(this=_delta_matches(stage)) if stage.keys else None,
                      returning=exp.Returning(expressions=[column(RID), column(COUNT_STAR),
                                                           exp.alias_(exp.Paren(this=lost), ident(LOST))]))


def delete_rows_statement(stage: AggregateStage, rids: RidSet) -> exp.Delete:
    """Delete the stage rows with these ids (the groups a subtraction left with no rows)."""
    return exp.Delete(this=internal_table(stage.name), where=exp.Where(this=rids.contains(column(RID))))


def keys_of_rows_query(stage: AggregateStage, rids: RidSet) -> exp.Select:
    """The group keys of the stage rows with these ids (the groups whose MIN/MAX left), as the
    affected keys of :func:`delete_statement` and :func:`insert_statement_for`."""
    return exp.select(*[column(key_column(i)) for i in range(len(stage.keys))]).from_(
        internal_table(stage.name)).where(rids.contains(column(RID)))


def new_groups_query(stage: AggregateStage) -> exp.Select:
    """How many groups of the (signed) delta table are not stored: entering rows that start a group,
    which a subtraction cannot create."""
    return exp.select(exp.Count(this=exp.Star())).from_(exp.Table(this=ident(DELTA))).join(
        internal_table(stage.name), on=_delta_matches(stage), join_type="ANTI")
