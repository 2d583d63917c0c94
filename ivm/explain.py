"""Human-readable plans: per view, its stages, the rule maintaining each, and the SQL it runs.

Delta statements are shown for a symbolic deletion: ``__ivm_deleted_<input>`` stands for the ids of the
rows that left that input.
"""
from __future__ import annotations

from ivm.delta import aggregate, materialise, naive, spj
from ivm.delta.rids import RidSet
from ivm.plan.nodes import AggregateStage, RecomputeStage, SpjStage, Stage, ViewPlan
from ivm.sql import render


def delta_statements(stage: Stage, read_by_aggregate: bool = False) -> list[str]:
    """The statements a deletion runs for ``stage``, with symbolic id sets."""
    if isinstance(stage, SpjStage):
        deleted = {name: RidSet.symbolic(f"__ivm_deleted_{name}") for name in stage.inputs}
        capture = [render(spj.capture_statement(stage, deleted, f"__ivm_gone_{stage.name}"))] if read_by_aggregate else []
        return capture + [render(spj.delete_statement(stage, deleted))]
    if isinstance(stage, AggregateStage) and stage.subtractive:
        lost = aggregate.lost_extremes_query(stage)
        return [render(aggregate.group_delta_statement(stage, f"__ivm_gone_{stage.source}")),
                render(aggregate.subtract_statement(stage)),
                *([render(aggregate.empty_groups_statement(stage))] if stage.keys else []),
                *([f'-- groups whose MIN/MAX left: {render(lost)}; they are recomputed as below'] if lost else []),
                render(aggregate.delete_statement(stage)) if lost else None,
                render(aggregate.insert_statement_for(stage)) if lost else None]
    if isinstance(stage, AggregateStage):
        return [f'CREATE TEMP TABLE "{aggregate.AFFECTED}" AS '
                + render(aggregate.affected_keys_query(stage, f"__ivm_gone_{stage.source}", RidSet())),
                render(aggregate.delete_statement(stage)),
                render(aggregate.insert_statement_for(stage))]
    if isinstance(stage, RecomputeStage):
        return [render(s) for s in (naive.fresh_statement(stage), naive.gone_statement(stage),
                                    naive.insert_statement_for(stage), naive.delete_statement(stage))]
    from ivm.store.coverage import explain_statements  # per-row, partition and top-k stages

    return explain_statements(stage)


RULES = {
    "spj": "incremental: delete rows whose lineage names a deleted input row",
    "aggregate": "incremental: recompute only the groups touched by the deleted input rows",
    "subtract": "incremental: subtract the deleted rows from running COUNT/SUM/AVG/MIN/MAX per group "
                "(groups that lose their MIN/MAX are recomputed)",
    "recompute": "FALLBACK: recompute the stage and apply the difference",
}
# per-row, partition and top-k stages describe their rule themselves (ivm.store.coverage.strategy)


def explain_plan(plan: ViewPlan) -> str:
    from ivm.store.engine import strategy_of

    strategy, reason = strategy_of(plan)
    lines = [f"view {plan.name}: {strategy} ({reason})", f"  sql: {plan.sql}"]
    for stage in plan.stages:
        lines.append(f"  stage {stage.name} [{stage.kind}] reads {', '.join(stage.inputs)}")
        rule = "subtract" if isinstance(stage, AggregateStage) and stage.subtractive else stage.kind
        from ivm.store.coverage import strategy as more

        lines.append(f"    rule: {RULES.get(rule) or 'incremental: ' + more(stage)}"
                     + (f" because {stage.reason}" if isinstance(stage, RecomputeStage) else ""))
        lines.append(f"    build: {render(materialise.create_statement(stage))}")
        read_by_aggregate = any(isinstance(s, AggregateStage) and s.source == stage.name for s in plan.stages)
        for statement in filter(None, delta_statements(stage, read_by_aggregate)):
            lines.append(f"    delta: {statement}")
    return "\n".join(lines)
