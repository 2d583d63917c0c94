"""Human-readable plans: per view, its stages, the rule maintaining each, and the SQL it runs.

Delta statements are shown for a symbolic deletion: ``__ivm_deleted_<input>`` stands for the ids of the
rows that left that input.
"""
from __future__ import annotations

from ivm.delta import aggregate, materialise, naive, spj
from ivm.delta.rids import RidSet
from ivm.plan.nodes import AggregateStage, RecomputeStage, SpjStage, Stage, ViewPlan
from ivm.sql import render


def _symbolic(stage: SpjStage) -> dict[str, RidSet]:
    return {name: RidSet.symbolic(f"__ivm_deleted_{name}") for name in stage.inputs}


def delta_statements(stage: Stage, read_by_aggregate: bool = False, in_place: SpjStage | None = None,
                     deferred: bool = False) -> list[str]:
    """The statements a deletion runs for ``stage``, with symbolic id sets.

    ``deferred``: this SPJ stage's only reader is an aggregate, so its DELETE waits until that aggregate
    has read the leaving rows in place; ``in_place`` is such a source stage of an aggregate."""
    if isinstance(stage, SpjStage):
        deleted = _symbolic(stage)
        if deferred:
            return [f"-- once the aggregate reading this stage has read the leaving rows in place: "
                    f"{render(spj.delete_statement(stage, deleted))}"]
        capture = [render(spj.capture_statement(stage, deleted, f"__ivm_gone_{stage.name}"))] if read_by_aggregate else []
        return capture + [render(spj.delete_statement(stage, deleted))]
    gone = spj.gone_query(in_place, _symbolic(in_place)) if in_place is not None \
        else f"__ivm_gone_{getattr(stage, 'source', '')}"
    if isinstance(stage, AggregateStage) and stage.subtractive:
        lost = any(s.function in ("min", "max") for s in stage.state)
        some = RidSet.symbolic("__ivm_returned")
        return [render(aggregate.subtract_statement(stage, gone)),
                *([f"-- for the returned groups with no rows left: {render(aggregate.delete_rows_statement(stage, some))}"]
                  if stage.keys else []),
                *([f"-- for the returned groups whose MIN/MAX may have left: CREATE TEMP TABLE "
                   f'"{aggregate.AFFECTED}" AS {render(aggregate.keys_of_rows_query(stage, some))}; '
                   "those groups are recomputed as below"] if lost and stage.keys else []),
                "-- when another stage reads this one's row ids (the subtraction negated them), with ? the "
                f"largest id before it: {render(aggregate.renumber_statement(stage))}",
                render(aggregate.delete_statement(stage)) if lost else None,
                render(aggregate.insert_statement_for(stage)) if lost else None]
    if isinstance(stage, AggregateStage):
        return [f'CREATE TEMP TABLE "{aggregate.AFFECTED}" AS '
                + render(aggregate.affected_keys_query(stage, gone, RidSet())),
                render(aggregate.delete_statement(stage)),
                render(aggregate.insert_statement_for(stage))]
    if isinstance(stage, RecomputeStage):
        return [render(s) for s in (naive.fresh_statement(stage), naive.gone_statement(stage),
                                    naive.insert_statement_for(stage), naive.delete_statement(stage))]
    from ivm.store.coverage import explain_statements  # per-row, partition and top-k stages

    return explain_statements(stage)


RULES = {
    "spj": "incremental: delete rows whose lineage names a deleted input row",
    "aggregate": "incremental: recompute only the groups touched by the deleted input rows (an aggregate here is "
                 "not subtracted: COUNT DISTINCT, SUM/AVG of DOUBLE, which would drift, or another function; "
                 "SUM/AVG of a DECIMAL cast is)",
    "subtract": "incremental: subtract the deleted rows from running COUNT/SUM/AVG/MIN/MAX per group "
                "(groups that lose their MIN/MAX are recomputed)",
    "recompute": "FALLBACK: recompute the stage and apply the difference",
    "constant": "constant: built at deploy from constants (VALUES, range, ...); no deletion changes it",
}
# per-row, partition and top-k stages describe their rule themselves (ivm.store.coverage.strategy)


def explain_plan(plan: ViewPlan, deferrable: set[str] | frozenset[str] = frozenset()) -> str:
    """``deferrable``: stages whose DELETE waits for their aggregate (see ``maintain.deferrable``)."""
    from ivm.store.engine import strategy_of

    strategy, reason = strategy_of(plan)
    lines = [f"view {plan.name}: {strategy} ({reason})", f"  sql: {plan.sql}"]
    if plan.tie_broken:
        asof = " (and one row of each tie an ASOF JOIN pairs with)" if "ASOF" in plan.tie_broken.upper() else ""
        lines.append(f"  ties: ORDER BY keys added{asof} where rows the SQL's order may leave tied could be picked "
                     "either way, so the view keeps one of its answers, always the same one (verify recomputes "
                     f"this): {plan.tie_broken}")
    by_name = {stage.name: stage for stage in plan.stages}
    for stage in plan.stages:
        lines.append(f"  stage {stage.name} [{stage.kind}] reads {', '.join(stage.inputs) or 'no table (constants)'}")
        rule = "subtract" if isinstance(stage, AggregateStage) and stage.subtractive else stage.kind
        rule = "constant" if isinstance(stage, RecomputeStage) and not stage.inputs else rule
        from ivm.store.coverage import strategy as more

        lines.append(f"    rule: {RULES.get(rule) or 'incremental: ' + more(stage)}"
                     + (f" because {stage.reason}" if rule == "recompute" else ""))
        lines.append(f"    build: {render(materialise.create_statement(stage))}")
        read_by_aggregate = any(isinstance(s, AggregateStage) and s.source == stage.name for s in plan.stages)
        source = by_name.get(getattr(stage, "source", None))
        in_place = source if isinstance(source, SpjStage) and source.name in deferrable else None
        deltas = [] if rule == "constant" else delta_statements(stage, read_by_aggregate, in_place,
                                                                 stage.name in deferrable)
        for statement in filter(None, deltas):
            lines.append(f"    delta: {statement}")
    return "\n".join(lines)
