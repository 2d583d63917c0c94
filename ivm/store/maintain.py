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
from ivm.delta.templates import GONE_MARKER, Templates
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
    # the deleted rows, when a reader needs their values, as SQL text naming a relation: a temporary table,
    # or (while the relation's own DELETE is deferred, see Maintainer._spj) a query reading them in place
    gone: str | None = None
    pending: bool = False  # a deferred DELETE: the number of rows is not known yet

    def __bool__(self) -> bool:
        return bool(self.deleted) or bool(self.inserted) or self.pending


@dataclass
class StageReport:
    deleted: int = 0
    inserted: int = 0
    seconds: float = 0.0


def deferrable(stages: Sequence[Stage]) -> set[str]:
    """Stages read by nothing but one aggregate: their DELETE waits until the aggregate has read the
    leaving rows in place, which saves copying them out (one statement on a large table less). Not when
    a per-row, partition or top-k stage needs the aggregate's replaced rows: that aggregate reads the
    leaving rows twice (to copy the touched groups, then for its rule), and copying them once is cheaper."""
    readers: dict[str, list[Stage]] = {}
    for stage in stages:
        for name in stage.inputs:
            readers.setdefault(name, []).append(stage)
    keeping = rows_needed(stages)
    return {name for name, found in readers.items()
            if len(found) == 1 and isinstance(found[0], AggregateStage) and found[0].source == name
            and found[0].name not in keeping}


class Maintainer(CoverageRules):
    """Holds the connection and the temporary relations of one deletion."""

    def __init__(self, con, stages: Sequence[Stage], hook: Callable[[Stage], None] | None = None,
                 templates: Templates | None = None):
        self.con = con
        self.stages = stages
        self.hook = hook
        self.templates = templates if templates is not None else Templates()
        self.readers_need_rows = {s.source for s in stages if isinstance(s, AggregateStage)}
        # relations whose deleted ids some stage needs: only SPJ stages match ids against lineage
        self.read = {name for s in stages if isinstance(s, SpjStage) for name in s.inputs}
        self.readers_need_rows |= rows_needed(stages)  # per-row, partition and top-k stages (coverage.py)
        self.read |= ids_needed(stages)
        self.by_name = {s.name: s for s in stages}
        self._net_checked: dict[str, bool] = {}
        self.deferrable = deferrable(stages)
        self._deferred: dict[str, tuple[str, Change]] = {}
        self.reports: dict[str, StageReport] = {}
        self._temporaries: list[str] = []

    # -- plumbing ------------------------------------------------------------------------------------
    def execute(self, statement: exp.Expression | str):
        return self.con.execute(statement if isinstance(statement, str) else render(statement))

    def text(self, stage: Stage, kind: str, build, sets=(), gone: str | None = None, variant=()) -> str:
        """Statement ``kind`` of ``stage``, from the template cache (see :mod:`ivm.delta.templates`)."""
        return self.templates.text((stage.name, kind, *variant), build, sets, gone)

    def _spj_sets(self, stage: SpjStage, kind: str, by_input: dict[str, RidSet], build):
        """An SPJ statement over id sets keyed by input name: the template depends on which inputs changed."""
        names = sorted(by_input)
        return self.text(stage, kind, lambda *markers: build(dict(zip(names, markers))),
                         [by_input[n] for n in names], variant=tuple(names))

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
        for stage in self.stages:
            inputs = {name: changes[name] for name in stage.inputs if name in changes and changes[name]}
            if not inputs:
                continue
            if self.hook:
                self.hook(stage)
            start = time.perf_counter()
            change = self.apply(stage, inputs)
            changes[stage.name] = change
            self.reports[stage.name] = StageReport(change.deleted.count, change.inserted.count,
                                                   time.perf_counter() - start)
        for name in list(self._deferred):
            self.flush(name)
        return self.reports

    def flush(self, name: str) -> None:
        """Run the deferred DELETE of stage ``name``, once its reader has seen the leaving rows."""
        if name not in self._deferred:
            return
        statement, change = self._deferred.pop(name)
        start = time.perf_counter()
        change.deleted = RidSet(count=self.count(statement))
        change.pending = False
        report = self.reports.get(name)
        if report is not None:
            report.deleted = change.deleted.count
            report.seconds += time.perf_counter() - start

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
        inserted = {name: c.inserted for name, c in inputs.items() if c.inserted}
        change = Change()
        delete = self._spj_sets(stage, "delete", deleted, lambda d: spj.delete_statement(stage, d)) \
            if deleted else None
        if deleted and stage.name in self.deferrable and not inserted:
            gone = self._spj_sets(stage, "gone", deleted, lambda d: spj.gone_query(stage, d))
            change = Change(gone=f"({gone})", pending=True)
            self._deferred[stage.name] = (delete, change)
            return change
        if deleted:
            gone = None
            if stage.name in self.readers_need_rows:
                gone = f'"__ivm_gone_{len(self._temporaries)}"'
                self.execute(self._spj_sets(stage, "capture", deleted,
                                            lambda d: spj.capture_statement(stage, d, GONE_MARKER))
                             .replace(render(ident(GONE_MARKER)), gone))
                self._temporaries.append(gone.strip('"'))
            if stage.name in self.read:
                ids = self.ids(f"SELECT {render(column(RID))} FROM {gone}") if gone \
                    else self.ids(self._spj_sets(stage, "ids", deleted, lambda d: spj.ids_query(stage, d)))
                self.count(delete)
                change = Change(deleted=self.rid_set(ids), gone=gone)
            else:  # no reader needs the ids: only the number of rows matters
                change = Change(deleted=RidSet(count=self.count(delete)), gone=gone)
        if inserted:  # every input of a stage is read by one of its branches, so rows can enter
            change.inserted = self.insert_returning(self._spj_sets(
                stage, "insert", inserted, lambda d: spj.insert_statement_for(stage, d)))
        return change

    def _aggregate(self, stage: AggregateStage, source: Change) -> Change:
        if stage.subtractive and not source.inserted and source.gone is not None:
            return self._subtract(stage, source)
        if source.inserted and aggregate.signed(stage) and (source.gone is not None or not source.deleted):
            # rows entered too (an upstream stage replaced rows): linear states add them
            return self._subtract(stage, source)
        return self._recompute_groups(stage, source)

    def _subtract(self, stage: AggregateStage, source: Change) -> Change:
        """One UPDATE subtracts the leaving rows from their groups and says which groups became empty or
        may have lost their MIN/MAX; only those cases run further statements. Input rows that entered
        (a :func:`aggregate.signed` stage only) count negatively in a group delta table made first; a
        group they would start is not stored yet, so then the touched groups are recomputed instead."""
        shift = stage.name in self.read  # readers match this stage's row ids: updated groups get new ids
        offset = self.execute(self.text(stage, "offset", lambda: aggregate.offset_query(stage))).fetchall()[0][0] \
            if shift else 0
        gone = source.gone
        if source.inserted:
            self.execute(self.text(stage, "signed-delta", lambda ins: _temporary(aggregate.DELTA, aggregate.group_delta_query(
                stage, GONE_MARKER if gone is not None else None, inserted=ins)),
                [source.inserted], gone=gone, variant=(gone is not None,)))
            self._temporaries.append(aggregate.DELTA)
            if stage.keys and self.execute(self.text(stage, "new-groups", lambda: aggregate.new_groups_query(
                    stage))).fetchall()[0][0]:
                return self._recompute_groups(stage, source)  # entering rows start a new group
            statement = self.text(stage, "subtract-signed", lambda: aggregate.subtract_statement(
                stage, None, mark=shift), variant=(shift,))
        else:
            statement = self.text(stage, "subtract", lambda: aggregate.subtract_statement(
                stage, GONE_MARKER, mark=shift), gone=gone, variant=(shift,))
        result = self.execute(statement).fetchnumpy()
        self.flush(stage.source)  # the subtraction has read the leaving input rows
        ids = np.asarray(result[RID], dtype=np.int64)  # negated when shift: -(old id), until renumbered
        if not len(ids):
            return Change()
        emptied = np.asarray(result[COUNT_STAR]) == 0 if stage.keys else np.zeros(len(ids), dtype=bool)
        lost = np.asarray(result[aggregate.LOST], dtype=bool) & ~emptied
        if emptied.any():
            self.count(aggregate.delete_rows_statement(stage, self.rid_set(ids[emptied])))
        if lost.any() and stage.keys:  # their keys, while their ids are the ones returned
            self.execute(_temporary(aggregate.AFFECTED, aggregate.keys_of_rows_query(stage, self.rid_set(ids[lost]))))
            self._temporaries.append(aggregate.AFFECTED)
        renumbered = np.asarray(self.con.execute(self.text(stage, "renumber", lambda: aggregate.renumber_statement(
            stage)), [int(offset)]).fetchnumpy()[RID], dtype=np.int64) if shift and (~emptied).any() \
            else np.empty(0, dtype=np.int64)
        dropped = regrouped = np.empty(0, dtype=np.int64)
        if lost.any():  # recompute those groups from the input's new state (flushed above)
            dropped = self.ids(self.text(stage, "delete-groups", lambda: aggregate.delete_statement(stage)))
            regrouped = self.ids(self.text(stage, "insert-groups", lambda: aggregate.insert_statement_for(stage)))
        if not shift:  # nobody reads this stage's ids: counts are all the report needs
            return Change(deleted=RidSet(count=len(ids)), inserted=RidSet(count=int((~emptied).sum())))
        kept = np.setdiff1d(renumbered, dropped)
        return Change(deleted=self.rid_set(-ids), inserted=self.rid_set(np.concatenate([kept, regrouped])))

    def _recompute_groups(self, stage: AggregateStage, source: Change) -> Change:
        if stage.keys:
            self._affected_groups(stage, source)
        self.flush(stage.source)  # the affected keys are known; recompute from the input's new state
        change = Change(deleted=self.rid_set(self.ids(self.text(
            stage, "delete-groups", lambda: aggregate.delete_statement(stage)))))
        change.inserted = self.rid_set(self.ids(self.text(
            stage, "insert-groups", lambda: aggregate.insert_statement_for(stage))))
        return change

    def _affected_groups(self, stage: AggregateStage, source: Change) -> None:
        sets = [source.inserted] if source.inserted else []
        gone = source.gone

        def build(*inserted: RidSet) -> exp.Expression:
            return _temporary(aggregate.AFFECTED, aggregate.affected_keys_query(
                stage, GONE_MARKER if gone is not None else None, inserted[0] if inserted else RidSet()))
        self.execute(self.text(stage, "affected", build, sets, gone=gone, variant=(gone is not None, bool(sets))))
        self._temporaries.append(aggregate.AFFECTED)

    def _recompute(self, stage: RecomputeStage) -> Change:
        self.execute(self.text(stage, "fresh", lambda: naive.fresh_statement(stage)))
        self.execute(self.text(stage, "gone", lambda: naive.gone_statement(stage, self._spelled(stage))))
        self._temporaries += [naive.FRESH, naive.GONE]
        inserted = self.insert_returning(self.text(stage, "insert", lambda: naive.insert_statement_for(
            stage, self._spelled(stage))))
        change = self.delete_returning(self.text(stage, "delete", lambda: naive.delete_statement(stage)))
        change.inserted = inserted
        return change


def _temporary(name: str, query: exp.Query) -> exp.Create:
    return exp.Create(this=exp.Table(this=ident(name)), kind="TABLE", replace=True,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query)
