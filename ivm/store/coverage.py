"""Maintenance of per-row, partition and top-k stages, and the capture of deleted rows they need.

These rules see both signs: a deletion upstream can make rows enter (a LEFT JOIN row padded again, a NOT
EXISTS that became true, a partition's new ranking, a row refilling a top-k). Each rule recomputes only a
part of its stage (the affected driver rows, the affected partitions, or the k kept rows) and applies the
difference (:mod:`ivm.delta.diff`), so readers downstream see just the rows that changed.

Lookups and partition keys read the *values* of rows that left an input, so every relation such a stage
reads keeps its deleted rows in a temporary table until the transaction ends (``Change.gone``):
sources when their rows are deleted, SPJ stages as before, aggregate stages by copying the groups a change
can touch before their rule runs, and these stages themselves.
"""
from __future__ import annotations


import numpy as np
from sqlglot import exp

from ivm.delta import aggregate, diff, materialise, partition, perrow, topk
from ivm.delta.materialise import body
from ivm.delta.rids import RidSet
from ivm.plan.nodes import AggregateStage, PartitionStage, PerRowStage, RecomputeStage, Stage, TopKStage
from ivm.sql import DIALECT, RID, and_all, column, fill, ident, internal_table, null_safe_eq, render, slot

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
    """Relations whose deleted ids these stages read; also an aggregate's source that is an aggregate
    (DISTINCT over an aggregate): its replaced groups are captured by id. Other aggregate sources hand
    their aggregate the leaving rows themselves (``Change.gone``), which is all it reads."""
    kinds = {stage.name: stage for stage in stages}
    needed = {name for stage in stages if isinstance(stage, MORE_STAGES) for name in stage.inputs}
    needed |= {stage.source for stage in stages if isinstance(stage, AggregateStage)
               and isinstance(kinds.get(stage.source), AggregateStage)}
    return needed


class CoverageRules:
    """Mixed into :class:`ivm.store.maintain.Maintainer` (which provides execute, ids, rid_set, ...).

    Statements are rendered once per stage and shape (:func:`_sql`) with slots for temporary tables and id
    sets, and filled in per deletion (:func:`ivm.sql.fill`)."""

    # -- templates ---------------------------------------------------------------------------------
    def _run(self, sql: str, tables: dict | None = None, ids: dict | None = None):
        return self.con.execute(fill(sql, tables, ids))

    def _sql(self, stage: Stage, key, build) -> str:
        """The rendered statement ``build()`` for ``stage`` and shape ``key``, rendered once (or read from the
        file, :mod:`ivm.store.template_cache`)."""
        return self.templates.statement((stage.name, "coverage", key), lambda: render(build()))

    def _temporary(self, prefix: str) -> str:
        name = f"__ivm_{prefix}_{len(self._temporaries)}"
        self._temporaries.append(name)
        return name

    def _ask(self, sql: str, tables: dict | None = None, ids: dict | None = None) -> bool:
        return bool(self._run(sql, tables, ids).fetchall()[0][0])

    def _ids_of(self, sql: str, tables: dict | None = None, ids: dict | None = None) -> np.ndarray:
        return np.asarray(self._run(sql, tables, ids).fetchnumpy()[RID])

    # -- capture -----------------------------------------------------------------------------------
    def capture(self, query: exp.Query, prefix: str = "gone") -> str:
        name = self._temporary(prefix)
        self.execute(diff.temporary(name, query))
        return name

    def _capture(self, sql: str, tables: dict | None = None, ids: dict | None = None, prefix: str = "gone") -> str:
        """Run a ``CREATE TEMP TABLE slot(out) AS ...`` template into a fresh temporary table."""
        name = self._temporary(prefix)
        self._run(sql, {**(tables or {}), "out": _quoted(name)}, ids)
        return name

    def delete_source(self, table: str, deleted: RidSet) -> str | None:
        """Delete the rows ``deleted`` from a source; when a stage reads their values, copy them into a
        temporary table (returned) first. Copied inside DuckDB, not through ``DELETE ... RETURNING *`` and
        Arrow: Arrow has no TIME WITH TIME ZONE, ENUM, BIT, UUID or HUGEINT beyond DECIMAL(38), so the copies
        lost offsets, enum order and values, and stages probed with the wrong keys."""
        sql = _SOURCE_SQL.get(table)
        if sql is None:
            sql = _SOURCE_SQL[table] = render(exp.Delete(this=internal_table(table), where=exp.Where(
                this=_ids_slot("del").contains(column(RID)))))
        gone = None
        if table in self.readers_need_rows:
            copy = _SOURCE_SQL.get((table, "copy"))
            if copy is None:
                copy = _SOURCE_SQL[(table, "copy")] = render(diff.temporary(slot("out"), exp.select(exp.Star()).from_(
                    internal_table(table)).where(_ids_slot("del").contains(column(RID)))))
            gone = _quoted(self._capture(copy, ids={"del": deleted}))
        self._run(sql, ids={"del": deleted}).fetchall()
        return gone

    def _remove(self, stage: Stage, key, condition, tables: dict | None = None, ids: dict | None = None
                ) -> tuple[RidSet, str | None]:
        """Delete the stage rows matching the condition template ``condition()`` (cached under ``key``,
        evaluated once); their ids when a reader needs them, their rows when one needs their values."""
        gone = None
        if stage.name in self.readers_need_rows:
            sql = self._sql(stage, ("capture", key),
                            lambda: diff.temporary(slot("out"), diff.rows_where(stage, condition())))
            gone = self._capture(sql, tables, ids)
            return self._delete_captured(stage, gone), gone
        if stage.name in self.read:
            found = self._ids_of(self._sql(stage, ("ids", key), lambda: exp.select(column(RID)).from_(
                internal_table(stage.name)).where(condition())), tables, ids)
            rid_set = self.rid_set(found)
            if not rid_set:
                return rid_set, None
            self._run(self._sql(stage, ("delete-ids",), lambda: exp.Delete(
                this=internal_table(stage.name), where=exp.Where(this=_ids_slot("found").contains(column(RID))))),
                ids={"found": rid_set})
            return rid_set, None
        delete = self._sql(stage, ("delete", key), lambda: exp.Delete(this=internal_table(stage.name),
                                                                  where=exp.Where(this=condition())))
        count = self._run(delete, tables, ids).fetchall()[0][0]
        return RidSet(count=int(count)), None

    def _delete_captured(self, stage: Stage, gone: str) -> RidSet:
        """Delete the stage rows copied into temporary table ``gone``; their ids when a reader matches ids,
        else only their number (the copy is what readers of values read)."""
        found = None
        if stage.name in self.read:
            found = self._ids_of(self._sql(stage, ("ids-of",), lambda: exp.select(column(RID)).from_(
                exp.Table(this=ident(slot("gone"))))), {"gone": _quoted(gone)})
            if not len(found):
                return RidSet()
        delete = self._sql(stage, ("delete-in",), lambda: exp.Delete(this=internal_table(stage.name), where=exp.Where(
            this=diff.in_table(column(RID), slot("gone")))))
        count = int(self._run(delete, {"gone": _quoted(gone)}).fetchall()[0][0])
        return self.rid_set(found) if found is not None else RidSet(count=count)

    def _combine(self, removed: list[tuple[RidSet, str | None]], inserted: list[RidSet]):
        from ivm.store.maintain import Change

        with_ids = [rid_set for rid_set, _ in removed if rid_set.values or rid_set.relation]
        gones = [gone for _, gone in removed if gone]
        count = sum(rid_set.count for rid_set, _ in removed)
        if len(with_ids) == 1 and all(not r.count for r, _ in removed if r is not with_ids[0]):
            deleted = with_ids[0]  # one part removed rows: its id set as it is, not read back and copied
        elif with_ids:
            deleted = self.rid_set(np.concatenate([self._values(r) for r in with_ids]))
        else:
            deleted = RidSet(count=count)
        gone = gones[0] if len(gones) == 1 else None
        if len(gones) > 1:
            query = exp.select(exp.Star()).from_(exp.Table(this=ident(gones[0])))
            for other in gones[1:]:
                query = exp.union(query, exp.select(exp.Star()).from_(exp.Table(this=ident(other))), distinct=False)
            gone = self.capture(query)
        new = [r for r in inserted if r.values or r.relation]
        added = sum(r.count for r in inserted)
        if len(new) == 1 and all(not r.count for r in inserted if r is not new[0]):
            inserted_set = new[0]
        elif new:
            inserted_set = self.rid_set(np.concatenate([self._values(r) for r in new]))
        else:
            inserted_set = RidSet(count=added)
        return Change(deleted=deleted, inserted=inserted_set, gone=_quoted(gone) if gone else None)

    def _values(self, rid_set: RidSet) -> np.ndarray:
        if rid_set.relation is not None:
            return self.ids(exp.select(column(RID)).from_(exp.Table(this=ident(rid_set.relation))))
        return np.asarray(rid_set.values, dtype=np.int64)

    def _replace_part(self, stage: Stage, key, fresh_query, restrict, ids: dict | None = None,
                      tables: dict | None = None):
        """Recompute a part of ``stage`` into a temporary table and apply the difference: copy the stored
        part once, insert the fresh rows without a stored partner, then delete the stored rows without a
        fresh partner, by row id. ``fresh_query`` and ``restrict`` build templates; ``key`` names their
        shape."""
        tables = dict(tables or {})
        if stage.name not in self.read and stage.name not in self.readers_need_rows \
                and not isinstance(stage, TopKStage):
            # nobody reads this stage: replace the part wholesale (two statements, no bag difference; the
            # report then counts the whole part as deleted and inserted). A top-k keeps k rows: it diffs.
            delete = self._sql(stage, ("delete-part", key), lambda: diff.part_delete(stage, restrict()))
            removed = RidSet(count=int(self._run(delete, tables, ids).fetchall()[0][0])), None
            insert = self._sql(stage, ("insert-all", key), lambda: materialise.insert_statement(stage, fresh_query()))
            inserted = RidSet(count=len(self._ids_of(insert, tables, ids)))
            return removed, inserted
        old = self._capture(self._sql(stage, ("old", key), lambda: diff.temporary(slot("out"), diff.part_rows(
            stage, restrict()))), tables, ids, prefix="old")
        fresh = self._capture(self._sql(stage, ("fresh", key), lambda: diff.temporary(slot("out"), fresh_query())),
                              tables, ids, prefix="fresh")
        pair = {"old": _quoted(old), "fresh": _quoted(fresh)}
        difference = self._capture(self._sql(stage, ("difference",), lambda: diff.temporary(
            slot("out"), diff.difference(stage, slot("old"), slot("fresh"), self._spelled(stage)))),
            pair, prefix="diff")
        pair["diff"] = _quoted(difference)
        insert = self._sql(stage, ("insert-new",), lambda: diff.insert_new_statement(stage, slot("diff")))
        inserted = self.rid_set(self._ids_of(insert, pair))
        return self._remove_unmatched(stage, pair), inserted

    def _spelled(self, stage: Stage) -> frozenset[str]:
        """The stored columns whose equal values may be spelled differently (asked of DuckDB once per stage and
        kept with its statements)."""
        return self.templates.names((stage.name, "spelled"), lambda: (
            name for name, typ, *_ in self.con.execute(f"DESCRIBE SELECT * FROM {render(internal_table(stage.name))}")
            .fetchall() if diff.needs_spelling(typ)))

    def _remove_unmatched(self, stage: Stage, pair: dict) -> tuple[RidSet, str | None]:
        """Delete the stored rows of a part (copied in ``pair["old"]``) that the fresh rows no longer hold
        (``pair["diff"]``, see :func:`ivm.delta.diff.difference`); their ids
        when a reader needs them, their rows (read from the copy) when one needs their values."""
        gone_ids = lambda: diff.gone_ids(slot("diff"))  # noqa: E731
        by_id = lambda ids: exp.Delete(this=internal_table(stage.name), where=exp.Where(  # noqa: E731
            this=ids.contains(column(RID))))
        if stage.name in self.readers_need_rows:
            gone = self._capture(self._sql(stage, ("gone-rows",), lambda: diff.temporary(slot("out"), exp.select(
                exp.Star()).from_(exp.Table(this=ident(slot("old")))).where(exp.In(
                    this=column(RID), query=exp.Subquery(this=gone_ids()))))), pair)
            return self._delete_captured(stage, gone), gone
        if stage.name in self.read:
            rid_set = self.rid_set(self._ids_of(self._sql(stage, ("gone-ids",), gone_ids), pair))
            if rid_set:
                self._run(self._sql(stage, ("delete-ids",), lambda: by_id(_ids_slot("found"))), ids={"found": rid_set})
            return rid_set, None
        count = self._run(self._sql(stage, ("delete-gone",), lambda: exp.Delete(
            this=internal_table(stage.name), where=exp.Where(this=exp.In(
                this=column(RID), query=exp.Subquery(this=gone_ids()))))), pair).fetchall()[0][0]
        return RidSet(count=int(count)), None

    def _net_change(self, relation: str, change) -> bool:
        """False when a stage replaced rows by equal ones (a subquery's aggregate kept its value)."""
        stage = self.by_name.get(relation)
        if stage is None or not change.deleted or not change.inserted or change.gone is None:
            return bool(change)

        def build():  # compared as bytes of their text: equal values may read differently ('a'/'A' under
            # NOCASE, -0.0/0.0, 1 month/30 days), and a reader shows what it reads
            cols = [diff.spelling(column(c)) for c in stage.columns]
            old = exp.select(*cols).from_(exp.Table(this=ident(slot("gone"))))
            new = exp.select(*[c.copy() for c in cols]).from_(internal_table(relation)).where(
                _ids_slot("ins").contains(column(RID)))
            return exp.select(exp.or_(exp.Exists(this=exp.except_(old, new, distinct=False)),
                                      exp.Exists(this=exp.except_(new.copy(), old.copy(), distinct=False))))
        return self._ask(self._sql(stage, ("net",), build), {"gone": change.gone}, {"ins": change.inserted})

    def apply_more(self, stage: Stage, inputs: dict):
        if isinstance(stage, PerRowStage):
            return self._per_row(stage, inputs)
        if isinstance(stage, PartitionStage):
            return self._partition(stage, inputs)
        return self._top_k(stage, inputs[stage.source])

    # -- aggregates and fallbacks read by these stages ----------------------------------------------
    def _aggregate_keeping_rows(self, stage: AggregateStage, source):
        """Run the aggregate rule, keeping the replaced groups' old rows for readers that need values."""
        shape = (source.gone is not None, bool(source.inserted))

        def build():
            if not stage.keys:
                return diff.temporary(slot("out"), exp.select(exp.Star()).from_(internal_table(stage.name)))
            keys = aggregate.affected_keys_query(stage, slot("gone") if shape[0] else None,
                                                 _ids_slot("ins") if shape[1] else RidSet())
            matches = and_all(null_safe_eq(column(f"__ivm_k{i}", "__s"), column(f"__ivm_k{i}", "__k"))
                              for i in range(len(stage.keys)))
            return diff.temporary(slot("out"), exp.select(exp.Column(this=exp.Star(), table=ident("__s"))).from_(
                internal_table(stage.name, "__s")).join(exp.Subquery(this=keys, alias=exp.TableAlias(
                    this=ident("__k"))), on=matches, join_type="SEMI"))
        candidates = self._capture(self._sql(stage, ("groups", shape), build),
                                   {"gone": source.gone} if shape[0] else None,
                                   {"ins": source.inserted} if shape[1] else None, prefix="groups")
        change = self._aggregate(stage, source)
        if change.deleted:
            change.gone = _quoted(self.capture(exp.select(exp.Star()).from_(exp.Table(this=ident(candidates)))
                                               .where(change.deleted.contains(column(RID)))))
        return change

    def _recompute_keeping_rows(self, stage: RecomputeStage):
        from ivm.delta import naive

        spelled = self._spelled(stage)
        self.execute(naive.fresh_statement(stage))
        self.execute(naive.gone_statement(stage, spelled))
        self._temporaries += [naive.FRESH, naive.GONE]
        inserted = self.insert_returning(naive.insert_statement_for(stage, spelled))
        removed = self._remove(stage, ("naive",), lambda: diff.in_table(column(RID), naive.GONE))
        return self._combine([removed], [inserted])

    # -- per-row stages ----------------------------------------------------------------------------
    def _per_row(self, stage: PerRowStage, inputs: dict):
        removed, inserted = [], []
        for index, branch in enumerate(stage.branches):
            driver = inputs.get(branch.driver.relation)
            if driver is not None and driver.deleted:
                removed.append(self._remove(stage, ("driver", index),
                                            lambda index=index: perrow.lineage_hit(index, _ids_slot("drv")),
                                            ids={"drv": driver.deleted}))
            plan = self._affected_plan(stage, index, branch, inputs)
            if plan is None:
                continue
            if plan == "all":
                affected, key, ids = None, ("all", index), None
            else:
                key, tables, ids = plan
                sql = self._sql(stage, key, lambda: self._affected_template(stage, index, key))
                affected = self.rid_set(self._ids_of(sql, tables, ids))
                if not affected:
                    continue
                key, ids = ("some", index), {"aff": affected}
            aff_slot = None if affected is None else _ids_slot("aff")
            part_removed, part_inserted = self._replace_part(
                stage, key, lambda: perrow.fresh_query(stage, index, aff_slot),
                lambda: perrow.restriction(index, aff_slot), ids)
            removed.append(part_removed)
            inserted.append(part_inserted)
        self._net_checked.clear()
        return self._combine(removed, inserted)

    def _affected_plan(self, stage: PerRowStage, index: int, branch, inputs: dict):
        """None (no driver row affected), "all", or (template key, tables, ids) of the affected query."""
        parts, tables, ids = [], {}, {}
        driver = inputs.get(branch.driver.relation)
        if driver is not None and driver.inserted:
            parts.append(("driver",))
            ids[f"ins_{branch.driver.relation}"] = driver.inserted
        for position, lookup in enumerate(branch.lookups):
            change = inputs.get(lookup.relation)
            if not change:
                continue
            if lookup.relation not in self._net_checked:
                self._net_checked[lookup.relation] = self._net_change(lookup.relation, change)
            if not self._net_checked[lookup.relation]:
                continue
            if lookup.probe is None:
                return "all"
            others = []
            for table in lookup.probe.find_all(exp.Table):
                name = table.name
                if table.args.get("db") and name in inputs and table.alias_or_name != branch.driver.alias:
                    other = inputs[name]
                    if other.deleted and other.gone is None:
                        return "all"
                    others.append((name, bool(other.deleted), bool(other.inserted)))
                    if other.deleted:
                        tables[f"gone_{name}"] = other.gone
                    if other.inserted:
                        ids[f"ins_{name}"] = other.inserted
            if change.deleted:
                if change.gone is None:
                    return "all"
                tables[f"gone_{lookup.relation}"] = change.gone
                parts.append(("deleted", position, tuple(sorted(set(others)))))
            if change.inserted:
                ids[f"ins_{lookup.relation}"] = change.inserted
                parts.append(("inserted", position))
        if not parts:
            return None
        return ("affected", index, tuple(parts)), tables, ids

    @staticmethod
    def _affected_template(stage: PerRowStage, index: int, key) -> exp.Query:
        branch = stage.branches[index]
        queries = []
        for part in key[2]:
            if part[0] == "driver":
                queries.append(perrow.inserted_driver_rows(branch.driver.relation,
                                                           _ids_slot(f"ins_{branch.driver.relation}")))
                continue
            lookup = branch.lookups[part[1]]
            if part[0] == "deleted":
                others = {name: perrow.old_state(name, _ids_slot(f"ins_{name}") if inserted else RidSet(),
                                                 slot(f"gone_{name}")) if deleted
                          else exp.select(exp.Star()).from_(internal_table(name)).where(
                              exp.not_(_ids_slot(f"ins_{name}").contains(column(RID))))
                          for name, deleted, inserted in part[2]}
                queries.append(perrow.probe_query(lookup, branch.driver.alias, slot(f"gone_{lookup.relation}"),
                                                  others))
            else:
                rows = perrow.rows_of(lookup.relation, _ids_slot(f"ins_{lookup.relation}"))
                queries.append(perrow.probe_query(lookup, branch.driver.alias, rows, {}))
        return perrow.affected_query(queries)

    # -- partition stages --------------------------------------------------------------------------
    def _partition(self, stage: PartitionStage, inputs: dict):
        parts, tables, ids, everything = [], {}, {}, stage.global_
        for position, scan in enumerate(stage.scans):
            change = inputs.get(scan.relation)
            if not change or everything:
                continue
            if change.deleted:
                if change.gone is None:
                    everything = True
                    break
                tables[f"gone_{scan.relation}"] = change.gone
                parts.append(("deleted", position))
            if change.inserted:
                ids[f"ins_{scan.relation}"] = change.inserted
                parts.append(("inserted", position))
        if everything:
            removed, inserted = self._replace_part(stage, "all", lambda: partition.fresh_query(stage, None),
                                                   lambda: partition.restriction(stage, None))
            return self._combine([removed], [inserted])
        if not parts:
            return self._combine([], [])

        def build():
            queries = []
            for mode, position in parts:
                scan = stage.scans[position]
                rows = exp.Table(this=ident(slot(f"gone_{scan.relation}"))) if mode == "deleted" \
                    else perrow.rows_of(scan.relation, _ids_slot(f"ins_{scan.relation}"))
                queries.append(partition.key_select(scan, rows))
            return partition.affected_statement(slot("out"), queries)
        keys = self._capture(self._sql(stage, ("keys", tuple(parts)), build), tables, ids, prefix="keys")
        removed, inserted = self._replace_part(stage, "some", lambda: partition.fresh_query(stage, slot("keys")),
                                               lambda: partition.restriction(stage, slot("keys")),
                                               tables={"keys": _quoted(keys)})
        return self._combine([removed], [inserted])

    # -- top-k stages ------------------------------------------------------------------------------
    def _top_k(self, stage: TopKStage, source):
        if stage.limit == 0 or not self._top_k_changes(stage, source):
            return self._combine([], [])
        removed, inserted = self._replace_part(stage, "all", lambda: topk.fresh_query(stage), lambda: None)
        return self._combine([removed], [inserted])

    def _top_k_changes(self, stage: TopKStage, source) -> bool:
        if source.deleted and self._ask(self._sql(stage, ("kept",), lambda: topk.any_kept(stage, _ids_slot("del"))),
                                        ids={"del": source.deleted}):
            return True  # a kept row left: refill from below
        full = stage.limit is not None and self._run(self._sql(stage, ("count",), lambda: topk.kept_count(stage))
                                                     ).fetchall()[0][0] >= stage.limit
        if stage.offset and source.deleted:
            if source.gone is None:
                return True
            sql = self._sql(stage, ("gone", full), lambda: topk.any_candidate(
                stage, exp.Table(this=ident(slot("gone"))), "not_after" if full else None))
            if self._ask(sql, {"gone": source.gone}):
                return True  # a row before the kept ones left: positions moved
        if source.inserted:
            sql = self._sql(stage, ("inserted", full), lambda: topk.any_candidate(
                stage, perrow.rows_of(stage.source, _ids_slot("ins")), "before" if full else None))
            if self._ask(sql, ids={"ins": source.inserted}):
                return True
        return False


_SOURCE_SQL: dict = {}  # source -> its DELETE by id; (source, "copy") -> the copy of the rows it deletes


def _quoted(name: str) -> str:
    """A temporary table's name as SQL text (how :attr:`Change.gone` names relations)."""
    return ident(name).sql(dialect=DIALECT)


def _ids_slot(name: str) -> RidSet:
    """An id set standing for the slot ``name`` in a template (filled with literals or a relation)."""
    return RidSet(relation=slot(name), count=1)


def strategy(stage: Stage) -> str | None:
    """How ``explain`` and ``delete`` name the rule of one of these stages (None for other stages)."""
    if isinstance(stage, PerRowStage):
        lookups = [lookup for branch in stage.branches for lookup in branch.lookups]
        everywhere = sorted({lookup.relation for lookup in lookups if lookup.probe is None})
        roles = list(dict.fromkeys(lookup.role for lookup in lookups if lookup.role))
        if len(stage.branches) > 1:
            roles.insert(0, "FULL JOIN")
        text = "re-evaluate the driver rows a changed lookup reaches" + (f" ({', '.join(roles)})" if roles else "")
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
                    lines.append(f"-- lookup {lookup.relation} AS {lookup.alias} ({lookup.role}): every driver row is "
                                 f"re-evaluated when it changes ({lookup.reason})")
                    continue
                probe = perrow.probe_query(lookup, driver.alias, f"__ivm_gone_{lookup.relation}", {})
                lines.append(f"-- lookup {lookup.relation} AS {lookup.alias} ({lookup.role}), affected driver rows: "
                             f"{render(probe)}")
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
