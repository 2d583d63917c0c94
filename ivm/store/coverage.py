"""Maintenance of per-row, partition and top-k stages, and the capture of deleted rows they need.

These rules see both signs: a deletion upstream can make rows enter (a LEFT JOIN row padded again, a NOT
EXISTS that became true, a partition's new ranking, a row refilling a top-k). Each rule recomputes only a
part of its stage (the affected driver rows, the affected partitions, or the k kept rows) and applies the
difference (:mod:`ivm.delta.diff`), so readers downstream see just the rows that changed.

Lookups and partition keys read the *values* of rows that left an input, so every relation such a stage
reads keeps its deleted rows in a temporary table until the transaction ends (``Change.gone_rows``):
sources when their rows are deleted, SPJ stages as before, aggregate stages by copying the groups a change
can touch before their rule runs, and these stages themselves.
"""
from __future__ import annotations

import numpy as np
from sqlglot import exp

from ivm.delta import aggregate, diff, partition, perrow, topk
from ivm.delta.materialise import body
from ivm.delta.rids import RidSet
from ivm.plan.nodes import AggregateStage, PartitionStage, PerRowStage, RecomputeStage, Stage, TopKStage
from ivm.sql import RID, and_all, column, ident, internal_table, null_safe_eq, render

MORE_STAGES = (PerRowStage, PartitionStage, TopKStage)


def rows_needed(stages) -> set[str]:
    """Relations whose deleted rows (values, not only ids) one of these stages reads."""
    needed = set()
    for stage in stages:
        if isinstance(stage, PerRowStage):
            needed |= {lookup.relation for branch in stage.branches for lookup in branch.lookups}
        elif isinstance(stage, PartitionStage):
            needed |= {scan.relation for scan in stage.scans}
        elif isinstance(stage, TopKStage) and stage.offset:
            needed.add(stage.source)
    return needed


def ids_needed(stages) -> set[str]:
    """Relations whose deleted ids these stages read; also an aggregate's source that is not an SPJ
    stage (DISTINCT over an aggregate): its rows are captured by id."""
    kinds = {stage.name: stage for stage in stages}
    needed = {name for stage in stages if isinstance(stage, MORE_STAGES) for name in stage.inputs}
    needed |= {stage.source for stage in stages if isinstance(stage, AggregateStage)
               and isinstance(kinds.get(stage.source), (AggregateStage, RecomputeStage, *MORE_STAGES))}
    return needed


class CoverageRules:
    """Mixed into :class:`ivm.store.maintain.Maintainer` (which provides execute, ids, rid_set, ...)."""

    # -- capture -----------------------------------------------------------------------------------
    def _temporary(self, prefix: str) -> str:
        name = f"__ivm_{prefix}_{len(self._temporaries)}"
        self._temporaries.append(name)
        return name

    def capture(self, query: exp.Query, prefix: str = "gone") -> str:
        name = self._temporary(prefix)
        self.execute(diff.temporary(name, query))
        return name

    def capture_source(self, table: str, deleted: RidSet) -> str | None:
        """Before a source deletion: keep the rows about to go when a stage reads their values."""
        if not deleted or table not in self.readers_need_rows:
            return None
        return self.capture(exp.select(exp.Star()).from_(internal_table(table)).where(deleted.contains(column(RID))))

    def _remove(self, stage: Stage, condition: exp.Expression) -> tuple[RidSet, str | None]:
        """Delete the stage rows matching ``condition``; ids when a reader needs them, rows when one
        needs their values."""
        gone = None
        if stage.name in self.readers_need_rows:
            gone = self.capture(diff.rows_where(stage, condition))
            ids = self.ids(exp.select(column(RID)).from_(exp.Table(this=ident(gone))))
        elif stage.name in self.read:
            ids = self.ids(exp.select(column(RID)).from_(internal_table(stage.name)).where(condition))
        else:
            ids = None
        count = self.count(exp.Delete(this=internal_table(stage.name), where=exp.Where(this=condition)))
        return (self.rid_set(ids) if ids is not None else RidSet(count=count)), gone

    def _combine(self, removed: list[tuple[RidSet, str | None]], inserted: list[RidSet]):
        from ivm.store.maintain import Change

        ids, count, gones = [], 0, []
        for rid_set, gone in removed:
            count += rid_set.count
            if rid_set.values or rid_set.relation:
                ids.append(self._values(rid_set))
            if gone:
                gones.append(gone)
        deleted = self.rid_set(np.concatenate(ids)) if ids else RidSet(count=count)
        if ids and deleted.count != count:
            deleted = RidSet(values=deleted.values, relation=deleted.relation, count=count)
        gone = gones[0] if len(gones) == 1 else None
        if len(gones) > 1:
            query = exp.select(exp.Star()).from_(exp.Table(this=ident(gones[0])))
            for other in gones[1:]:
                query = exp.union(query, exp.select(exp.Star()).from_(exp.Table(this=ident(other))), distinct=False)
            gone = self.capture(query)
        new = [self._values(r) for r in inserted if r]
        inserted_set = self.rid_set(np.concatenate(new)) if new else RidSet()
        return Change(deleted=deleted, inserted=inserted_set, gone_rows=gone)

    def _values(self, rid_set: RidSet) -> np.ndarray:
        if rid_set.relation is not None:
            return self.ids(exp.select(column(RID)).from_(exp.Table(this=ident(rid_set.relation))))
        return np.asarray(rid_set.values, dtype=np.int64)

    def _replace_part(self, stage: Stage, fresh_query: exp.Query, restrict) -> tuple[tuple[RidSet, str | None], RidSet]:
        """Recompute a part of ``stage`` into a temporary table and apply the difference."""
        fresh = self.capture(fresh_query, "fresh")
        gone_ids = self._temporary("gone_ids")
        self.execute(diff.gone_ids_statement(stage, fresh, gone_ids, restrict))
        inserted = self.insert_returning(diff.insert_new_statement(stage, fresh, restrict))
        removed = self._remove(stage, diff.in_table(column(RID), gone_ids))
        return removed, inserted

    def _net_change(self, relation: str, change) -> bool:
        """False when a stage replaced rows by equal ones (a subquery's aggregate kept its value)."""
        stage = self.by_name.get(relation)
        if stage is None or not change.deleted or not change.inserted or change.gone_rows is None:
            return bool(change)
        cols = [column(c) for c in stage.columns]
        old = exp.select(*cols).from_(exp.Table(this=ident(change.gone_rows)))
        new = exp.select(*[c.copy() for c in cols]).from_(internal_table(relation)).where(
            change.inserted.contains(column(RID)))
        differs = exp.select(exp.or_(exp.Exists(this=exp.except_(old, new, distinct=False)),
                                     exp.Exists(this=exp.except_(new.copy(), old.copy(), distinct=False))))
        return bool(self.execute(differs).fetchall()[0][0])

    def apply_more(self, stage: Stage, inputs: dict):
        if isinstance(stage, PerRowStage):
            return self._per_row(stage, inputs)
        if isinstance(stage, PartitionStage):
            return self._partition(stage, inputs)
        return self._top_k(stage, inputs[stage.source])

    # -- aggregates and fallbacks read by these stages ----------------------------------------------
    def _aggregate_keeping_rows(self, stage: AggregateStage, source):
        """Run the aggregate rule, keeping the replaced groups' old rows for readers that need values."""
        if stage.keys:
            keys = aggregate.affected_keys_query(stage, source.gone_rows, source.inserted)
            matches = and_all(null_safe_eq(column(f"__ivm_k{i}", "__s"), column(f"__ivm_k{i}", "__k"))
                              for i in range(len(stage.keys)))
            before = exp.select(exp.Column(this=exp.Star(), table=ident("__s"))).from_(internal_table(stage.name, "__s")).join(
                exp.Subquery(this=keys, alias=exp.TableAlias(this=ident("__k"))), on=matches, join_type="SEMI")
        else:
            before = exp.select(exp.Star()).from_(internal_table(stage.name))
        candidates = self.capture(before, "groups")
        change = self._aggregate(stage, source)
        if change.deleted:
            change.gone_rows = self.capture(exp.select(exp.Star()).from_(exp.Table(this=ident(candidates)))
                                            .where(change.deleted.contains(column(RID))))
        return change

    def _recompute_keeping_rows(self, stage: RecomputeStage):
        from ivm.delta import naive

        self.execute(naive.fresh_statement(stage))
        self.execute(naive.gone_statement(stage))
        self._temporaries += [naive.FRESH, naive.GONE]
        inserted = self.insert_returning(naive.insert_statement_for(stage))
        removed = self._remove(stage, diff.in_table(column(RID), naive.GONE))
        return self._combine([removed], [inserted])

    # -- per-row stages ----------------------------------------------------------------------------
    def _per_row(self, stage: PerRowStage, inputs: dict):
        removed, inserted = [], []
        effective = {name: change for name, change in inputs.items()}
        for index, branch in enumerate(stage.branches):
            driver = inputs.get(branch.driver.relation)
            if driver is not None and driver.deleted:
                removed.append(self._remove(stage, perrow.lineage_hit(index, driver.deleted)))
            parts, everything = [], False
            if driver is not None and driver.inserted:
                parts.append(perrow.inserted_driver_rows(branch.driver.relation, driver.inserted))
            for lookup in branch.lookups:
                change = effective.get(lookup.relation)
                if not change:
                    continue
                if lookup.relation not in self._net_checked:
                    self._net_checked[lookup.relation] = self._net_change(lookup.relation, change)
                if not self._net_checked[lookup.relation]:
                    continue
                if lookup.probe is None:
                    everything = True
                    break
                probes = self._probes(branch, lookup, inputs)
                if probes is None:
                    everything = True
                    break
                parts.extend(probes)
            if everything:
                affected = None
            elif parts:  # literal ids when few: the driver and lineage columns are probed by index
                affected = self.rid_set(self.ids(perrow.affected_query(parts)))
                if not affected:
                    continue
            else:
                continue
            part_removed, part_inserted = self._replace_part(
                stage, perrow.fresh_query(stage, index, affected), perrow.restriction(index, affected))
            removed.append(part_removed)
            inserted.append(part_inserted)
        self._net_checked.clear()
        return self._combine(removed, inserted)

    def _probes(self, branch, lookup, inputs) -> list[exp.Query] | None:
        change = inputs[lookup.relation]
        others_old = {}
        for table in lookup.probe.find_all(exp.Table):
            name = table.name
            if not table.args.get("db") or name not in inputs or table.alias_or_name == branch.driver.alias:
                continue
            other = inputs[name]
            if other.deleted and other.gone_rows is None:
                return None
            others_old[name] = perrow.old_state(name, other.inserted, other.gone_rows) if other.deleted \
                else exp.select(exp.Star()).from_(internal_table(name)).where(
                    exp.not_(other.inserted.contains(column(RID))))
        parts = []
        if change.deleted:
            if change.gone_rows is None:
                return None
            parts.append(perrow.probe_query(lookup, branch.driver.alias, change.gone_rows, others_old))
        if change.inserted:
            parts.append(perrow.probe_query(lookup, branch.driver.alias,
                                            perrow.rows_of(lookup.relation, change.inserted), {}))
        return parts

    # -- partition stages --------------------------------------------------------------------------
    def _partition(self, stage: PartitionStage, inputs: dict):
        parts, everything = [], stage.global_
        for scan in stage.scans:
            change = inputs.get(scan.relation)
            if not change or everything:
                continue
            if change.deleted:
                if change.gone_rows is None:
                    everything = True
                    break
                parts.append(partition.key_select(scan, exp.Table(this=ident(change.gone_rows))))
            if change.inserted:
                parts.append(partition.key_select(scan, perrow.rows_of(scan.relation, change.inserted)))
        affected = None
        if not everything:
            if not parts:
                return self._combine([], [])
            affected = self._temporary("keys")
            self.execute(partition.affected_statement(affected, parts))
        removed, inserted = self._replace_part(stage, partition.fresh_query(stage, affected),
                                               partition.restriction(stage, affected))
        return self._combine([removed], [inserted])

    # -- top-k stages ------------------------------------------------------------------------------
    def _top_k(self, stage: TopKStage, source):
        if stage.limit == 0 or not self._top_k_changes(stage, source):
            return self._combine([], [])
        removed, inserted = self._replace_part(stage, topk.fresh_query(stage), None)
        return self._combine([removed], [inserted])

    def _top_k_changes(self, stage: TopKStage, source) -> bool:
        def ask(query) -> bool:
            return bool(self.execute(query).fetchall()[0][0])

        if source.deleted and ask(topk.any_kept(stage, source.deleted)):
            return True  # a kept row left: refill from below
        full = stage.limit is not None and self.execute(topk.kept_count(stage)).fetchall()[0][0] >= stage.limit
        if stage.offset and source.deleted:
            if source.gone_rows is None:
                return True
            gone = exp.Table(this=ident(source.gone_rows))
            if ask(topk.any_candidate(stage, gone, "not_after" if full else None)):
                return True  # a row before the kept ones left: positions moved
        if source.inserted:
            rows = perrow.rows_of(stage.source, source.inserted)
            if ask(topk.any_candidate(stage, rows, "before" if full else None)):
                return True
        return False


def strategy(stage: Stage) -> str | None:
    """How ``explain`` and ``delete`` name the rule of one of these stages (None for other stages)."""
    if isinstance(stage, PerRowStage):
        lookups = [lookup for branch in stage.branches for lookup in branch.lookups]
        everywhere = sorted({lookup.relation for lookup in lookups if lookup.probe is None})
        text = "re-evaluate the driver rows a changed lookup reaches"
        if everywhere:
            text += f" (every driver row when {', '.join(everywhere)} changes)"
        return text
    if isinstance(stage, PartitionStage):
        if stage.global_:
            return f"recompute the whole {stage.what} stage (one partition: no PARTITION BY)"
        return f"recompute the {stage.what} partitions a change touches"
    if isinstance(stage, TopKStage):
        return "keep the top k; recompute them only when a kept row leaves or a better row enters"
    return None


__all__ = ["CoverageRules", "MORE_STAGES", "rows_needed", "ids_needed", "strategy", "render", "body"]


def explain_statements(stage: Stage) -> list[str]:
    """What a deletion runs for one of these stages, for ``explain``: ``__ivm_deleted_<input>`` and
    ``__ivm_gone_<input>`` stand for the ids and rows that left an input, ``__ivm_inserted_<input>`` for
    the ids that entered it."""
    lines = []
    if isinstance(stage, PerRowStage):
        for index, branch in enumerate(stage.branches):
            driver = branch.driver
            lines.append(f"-- branch {index}: driver {driver.relation} AS {driver.alias}")
            lines.append(render(exp.Delete(this=internal_table(stage.name), where=exp.Where(
                this=perrow.lineage_hit(index, RidSet.symbolic(f"__ivm_deleted_{driver.relation}"))))))
            for lookup in branch.lookups:
                if lookup.probe is None:
                    lines.append(f"-- lookup {lookup.relation} AS {lookup.alias}: every driver row is re-evaluated "
                                 f"when it changes ({lookup.reason})")
                    continue
                probe = perrow.probe_query(lookup, driver.alias, f"__ivm_gone_{lookup.relation}", {})
                lines.append(f"-- lookup {lookup.relation} AS {lookup.alias}, affected driver rows: {render(probe)}")
            affected = RidSet.symbolic("__ivm_affected")
            lines.append(f"-- re-evaluate them: {render(perrow.fresh_query(stage, index, affected))}")
        lines.append("-- then delete the stored rows of those driver rows that are not in the result, "
                     "insert the new ones")
    elif isinstance(stage, PartitionStage):
        if stage.global_:
            lines.append("-- any change: recompute the stage and apply the difference")
        else:
            for scan in stage.scans:
                keys = partition.key_select(scan, exp.Table(this=ident(f"__ivm_gone_{scan.relation}")))
                lines.append(f"-- partitions touched in {scan.relation} AS {scan.alias}: {render(keys)}")
            lines.append(f"-- recompute them: {render(partition.fresh_query(stage, '__ivm_keys'))}")
            lines.append("-- then replace the stored rows of those partitions by the difference")
    elif isinstance(stage, TopKStage):
        deleted = RidSet.symbolic(f"__ivm_deleted_{stage.source}")
        lines.append(f"-- a kept row left: {render(topk.any_kept(stage, deleted))}")
        if stage.offset:
            gone = exp.Table(this=ident(f"__ivm_gone_{stage.source}"))
            lines.append(f"-- a row before the kept ones left: {render(topk.any_candidate(stage, gone, 'not_after'))}")
        rows = perrow.rows_of(stage.source, RidSet.symbolic(f"__ivm_inserted_{stage.source}"))
        lines.append(f"-- a better row entered: {render(topk.any_candidate(stage, rows, 'before'))}")
        lines.append(f"-- if so, recompute the top k and apply the difference: {render(topk.fresh_query(stage))}")
    return lines
