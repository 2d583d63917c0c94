"""Run one deletion through every stage, in dependency order, inside the caller's transaction.

Each stage learns which row ids left (and, below aggregates and fallbacks, entered) each of its inputs,
applies its delta rule, and reports its own change to the stages that read it. Stages whose inputs did not
change are skipped without a statement.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import duckdb
import numpy as np
import pyarrow as pa  # noqa: F401  (ids of big deltas travel as Arrow)

from ivm.delta import aggregate, naive, spj
from ivm.delta.rids import LITERAL_LIMIT, RidSet
from ivm.plan.nodes import AggregateStage, RecomputeStage, SpjStage, Stage
from ivm.store.coverage import MORE_STAGES, CoverageRules, ids_needed, rows_needed
from ivm.plan.state import COUNT_STAR
from sqlglot import exp

from ivm.sql import RID, column, ident, render


@dataclass
class Change:
    """What happened to one relation: ids of rows that left and entered, and the rows that left when a
    reader needs their values (an aggregate recomputes the groups they belonged to)."""

    deleted: RidSet = field(default_factory=RidSet)
    inserted: RidSet = field(default_factory=RidSet)
    gone_rows: str | None = None  # temporary table holding the deleted rows, when a reader needs them

    def __bool__(self) -> bool:
        return bool(self.deleted) or bool(self.inserted)


@dataclass
class StageReport:
    deleted: int = 0
    inserted: int = 0
    seconds: float = 0.0


class Maintainer(CoverageRules):
    """Holds the connection and the temporary relations of one deletion."""

    def __init__(self, con, stages: Sequence[Stage], hook: Callable[[Stage], None] | None = None):
        self.con = con
        self.stages = stages
        self.hook = hook
        self.readers_need_rows = {s.source for s in stages if isinstance(s, AggregateStage)}
        # relations whose deleted ids some stage needs: only SPJ stages match ids against lineage
        self.read = {name for s in stages if isinstance(s, SpjStage) for name in s.inputs}
        self.readers_need_rows |= rows_needed(stages)  # per-row, partition and top-k stages (coverage.py)
        self.read |= ids_needed(stages)
        self.by_name = {s.name: s for s in stages}
        self._net_checked: dict[str, bool] = {}
        self._temporaries: list[str] = []

    # -- plumbing ------------------------------------------------------------------------------------
    def execute(self, statement):
        return self.con.execute(render(statement))

    def rid_set(self, ids: np.ndarray) -> RidSet:
        if len(ids) <= LITERAL_LIMIT:
            return RidSet.of([int(i) for i in ids])
        name = f"__ivm_rids_{len(self._temporaries)}"
        arrow = pa.table({RID: pa.array(ids, type=pa.int64())})
        self.con.register("__ivm_arrow", arrow)
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM __ivm_arrow')
        self.con.unregister("__ivm_arrow")
        self._temporaries.append(name)
        return RidSet(relation=name, count=len(ids))

    def delete_returning(self, statement) -> Change:
        ids = self.execute(statement).fetchnumpy()[RID]
        return Change(deleted=self.rid_set(np.asarray(ids)))

    def ids(self, query) -> np.ndarray:
        return np.asarray(self.execute(query).fetchnumpy()[RID])

    def count(self, statement) -> int:
        """Run a DELETE/UPDATE without RETURNING; DuckDB answers with the number of rows it touched."""
        return int(self.execute(statement).fetchall()[0][0])

    def insert_returning(self, statement) -> RidSet:
        return self.rid_set(np.asarray(self.execute(statement).fetchnumpy()[RID]))

    def cleanup(self) -> None:
        for name in self._temporaries:
            try:
                self.con.execute(f'DROP TABLE IF EXISTS "{name}"')
            except duckdb.Error:
                pass
        self._temporaries.clear()

    # -- rules -------------------------------------------------------------------------------------
    def run(self, changes: dict[str, Change]) -> dict[str, StageReport]:
        reports = {}
        for stage in self.stages:
            inputs = {name: changes[name] for name in stage.inputs if name in changes and changes[name]}
            if not inputs:
                continue
            if self.hook:
                self.hook(stage)
            start = time.perf_counter()
            change = self.apply(stage, inputs)
            changes[stage.name] = change
            reports[stage.name] = StageReport(change.deleted.count, change.inserted.count,
                                              time.perf_counter() - start)
        return reports

    def apply(self, stage: Stage, inputs: dict[str, Change]) -> Change:
        if isinstance(stage, SpjStage):
            return self._spj(stage, inputs)
        if isinstance(stage, AggregateStage):
            if stage.name in self.readers_need_rows:  # read by a stage of coverage.py
                return self._aggregate_keeping_rows(stage, inputs[stage.source])
            return self._aggregate(stage, inputs[stage.source])
        if isinstance(stage, RecomputeStage):
            if stage.name in self.readers_need_rows:
                return self._recompute_keeping_rows(stage)
            return self._recompute(stage)
        if isinstance(stage, MORE_STAGES):
            return self.apply_more(stage, inputs)
        raise TypeError(f"no delta rule for {type(stage).__name__}")

    def _spj(self, stage: SpjStage, inputs: dict[str, Change]) -> Change:
        deleted = {name: c.deleted for name, c in inputs.items() if c.deleted}
        change = Change()
        if deleted:
            gone = None
            if stage.name in self.readers_need_rows:
                gone = f"__ivm_gone_{len(self._temporaries)}"
                self.execute(spj.capture_statement(stage, deleted, gone))
                self._temporaries.append(gone)
            if stage.name in self.read:
                ids = self.ids(exp.select(column(RID)).from_(exp.Table(this=ident(gone)))) if gone \
                    else self.ids(spj.ids_query(stage, deleted))
                self.count(spj.delete_statement(stage, deleted))
                change = Change(deleted=self.rid_set(ids), gone_rows=gone)
            else:  # no reader needs the ids: only the number of rows matters
                change = Change(deleted=RidSet(count=self.count(spj.delete_statement(stage, deleted))),
                                gone_rows=gone)
        inserted = {name: c.inserted for name, c in inputs.items() if c.inserted}
        statement = spj.insert_statement_for(stage, inserted) if inserted else None
        if statement is not None:
            change.inserted = self.insert_returning(statement)
        return change

    def _aggregate(self, stage: AggregateStage, source: Change) -> Change:
        if stage.subtractive and not source.inserted and source.gone_rows is not None:
            return self._subtract(stage, source)
        return self._recompute_groups(stage, source)

    def _subtract(self, stage: AggregateStage, source: Change) -> Change:
        shift = stage.name in self.read
        self.execute(aggregate.group_delta_statement(stage, source.gone_rows, shift_ids=shift))
        self._temporaries.append(aggregate.DELTA)
        offset = 0
        if shift:
            offset = self.con.execute(f'SELECT MIN("{aggregate.OFFSET}") FROM "{aggregate.DELTA}"').fetchall()[0][0]
        if not shift:  # nobody reads this stage: counts are all the report needs, and RETURNING is slow
            return self._subtract_counting(stage)
        updated = self.execute(aggregate.subtract_statement(stage, shift_ids=shift)).fetchnumpy()
        new_ids = np.asarray(updated[RID])
        gone_ids = np.empty(0, dtype=np.int64)
        if stage.keys and (np.asarray(updated[COUNT_STAR]) == 0).any():
            gone_ids = np.asarray(self.execute(aggregate.empty_groups_statement(stage)).fetchnumpy()[RID])
        regrouped = np.empty(0, dtype=np.int64)
        lost = aggregate.lost_extremes_query(stage)
        if lost is not None and self.con.execute(render(exp.select(exp.Exists(this=lost)))).fetchall()[0][0]:
            if stage.keys:
                self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{aggregate.AFFECTED}" AS {render(lost)}')
                self._temporaries.append(aggregate.AFFECTED)
            dropped = np.asarray(self.execute(aggregate.delete_statement(stage)).fetchnumpy()[RID])
            gone_ids = np.concatenate([gone_ids, dropped])
            regrouped = np.asarray(self.execute(aggregate.insert_statement_for(stage)).fetchnumpy()[RID])
        kept = np.setdiff1d(new_ids, gone_ids)
        return Change(deleted=self.rid_set(new_ids - offset), inserted=self.rid_set(np.concatenate([kept, regrouped])))

    def _subtract_counting(self, stage: AggregateStage) -> Change:
        updated = self.count(aggregate.subtract_statement(stage, shift_ids=False, returning=False))
        emptied = self.count(aggregate.empty_groups_statement(stage, returning=False)) if stage.keys else 0
        lost = aggregate.lost_extremes_query(stage)
        if lost is not None and self.con.execute(render(exp.select(exp.Exists(this=lost)))).fetchall()[0][0]:
            if stage.keys:
                self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{aggregate.AFFECTED}" AS {render(lost)}')
                self._temporaries.append(aggregate.AFFECTED)
            self.count(aggregate.delete_statement(stage, returning=False))
            self.execute(aggregate.insert_statement_for(stage)).fetchall()
        # every touched group was replaced by a new version, except those that lost their last row
        return Change(deleted=RidSet(count=updated), inserted=RidSet(count=updated - emptied))

    def _recompute_groups(self, stage: AggregateStage, source: Change) -> Change:
        if stage.keys:
            self._affected_groups(stage, source)
        change = self.delete_returning(aggregate.delete_statement(stage))
        change.inserted = self.insert_returning(aggregate.insert_statement_for(stage))
        return change

    def _affected_groups(self, stage: AggregateStage, source: Change) -> None:
        query = aggregate.affected_keys_query(stage, source.gone_rows, source.inserted)
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{aggregate.AFFECTED}" AS {render(query)}')
        self._temporaries.append(aggregate.AFFECTED)

    def _recompute(self, stage: RecomputeStage) -> Change:
        self.execute(naive.fresh_statement(stage))
        self.execute(naive.gone_statement(stage))
        self._temporaries += [naive.FRESH, naive.GONE]
        inserted = self.insert_returning(naive.insert_statement_for(stage))
        change = self.delete_returning(naive.delete_statement(stage))
        change.inserted = inserted
        return change
