"""Delta rules for select-project-join stages (and UNION ALL of them).

Deletion: a row of the stage leaves exactly when one of the input rows it was built from leaves, so the rule
is one DELETE on the lineage columns; no join is re-evaluated. This holds for any inner join condition
(equi or theta) and any deterministic filter or projection.

Insertion (only when an upstream aggregate or fallback replaced rows): the classic delta join, with the
inserted rows of input ``i`` joined to the new state of inputs before it and the old state after it.
"""
from __future__ import annotations

from typing import Mapping

from sqlglot import exp

from ivm.delta.materialise import insert_statement, lineage_column, spj_branch
from ivm.delta.rids import RidSet
from ivm.plan.nodes import SpjStage
from ivm.sql import RID, column, internal_table, or_all


def _lineage_hit(stage: SpjStage, deleted: Mapping[str, RidSet]) -> exp.Expression:
    return or_all(deleted[scan.relation].contains(column(lineage_column(scan.lineage)))
                  for branch in stage.branches for scan in branch.scans if deleted.get(scan.relation))


def delete_statement(stage: SpjStage, deleted: Mapping[str, RidSet]) -> exp.Delete:
    """DELETE the rows whose lineage names a deleted input row.

    No RETURNING: DuckDB's RETURNING path costs more than a second index probe, so the ids, when a
    reader needs them, come from :func:`ids_query` run first."""
    return exp.Delete(this=internal_table(stage.name), where=exp.Where(this=_lineage_hit(stage, deleted)))


def ids_query(stage: SpjStage, deleted: Mapping[str, RidSet]) -> exp.Select:
    """Ids of the rows :func:`delete_statement` is about to delete."""
    return exp.select(column(RID)).from_(internal_table(stage.name)).where(_lineage_hit(stage, deleted))


def gone_query(stage: SpjStage, deleted: Mapping[str, RidSet]) -> exp.Select:
    """The rows :func:`delete_statement` is about to delete, read in place (valid until it runs)."""
    return exp.select(exp.Star()).from_(internal_table(stage.name)).where(_lineage_hit(stage, deleted))


def capture_statement(stage: SpjStage, deleted: Mapping[str, RidSet], into: str) -> exp.Create:
    """Copy the rows about to be deleted into temporary table ``into``: an aggregate reading this stage
    needs their values. The copy lives only until the deletion's transaction ends."""
    select = gone_query(stage, deleted)
    return exp.Create(this=exp.Table(this=exp.to_identifier(into, quoted=True)), kind="TABLE", replace=True,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=select)


def _restricted(scan_alias: str, relation: str, condition_on_rid) -> exp.Subquery:
    inner = exp.select(exp.Star()).from_(internal_table(relation)).where(condition_on_rid(column(RID)))
    return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(scan_alias, quoted=True)))


def insert_query(stage: SpjStage, inserted: Mapping[str, RidSet]) -> exp.Query | None:
    """The rows that enter the stage because rows were inserted into its inputs, or None if none can."""
    parts = []
    for index, branch in enumerate(stage.branches):
        changed = [scan for scan in branch.scans if inserted.get(scan.relation)]
        for position, scan in enumerate(changed):
            replacements = {scan.lineage: _restricted(scan.alias, scan.relation, inserted[scan.relation].contains)}
            for later in changed[position + 1:]:
                rids = inserted[later.relation]
                replacements[later.lineage] = _restricted(
                    later.alias, later.relation, lambda target, rids=rids: exp.not_(rids.contains(target)))
            parts.append(spj_branch(stage, index, _replace_scans(branch, replacements)))
    if not parts:
        return None
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return query


def _replace_scans(branch, replacements) -> exp.Select:
    by_alias = {scan.alias: replacements[scan.lineage] for scan in branch.scans if scan.lineage in replacements}

    def swap(node):
        if isinstance(node, exp.Table) and node.args.get("db") and node.alias_or_name in by_alias:
            return by_alias[node.alias_or_name].copy()
        return node
    return branch.select.transform(swap)


def insert_statement_for(stage: SpjStage, inserted: Mapping[str, RidSet]) -> exp.Insert | None:
    query = insert_query(stage, inserted)
    return insert_statement(stage, query) if query is not None else None
