"""The fallback rule: recompute a stage and apply the difference (Feldera's naive incrementalisation).

Correct for every deterministic query, and the reason ``explain`` names a stage as a fallback. Only rows
that really differ are deleted or inserted, so stages downstream still see a small change: duplicates are
paired by numbering equal rows, and NULLs compare equal; columns whose equal values may be spelled differently
(-0.0 and 0.0) are paired by their text too (see :func:`ivm.delta.diff.needs_spelling`).
"""
from __future__ import annotations

from typing import Collection

from sqlglot import exp

from ivm.delta.diff import spelling, spelling_names
from ivm.delta.materialise import body, insert_statement
from ivm.plan.nodes import RecomputeStage
from ivm.sql import RID, and_all, column, ident, internal_table, null_safe_eq

FRESH = "__ivm_fresh"  # the temporary relation holding the recomputed rows
GONE = "__ivm_gone_rids"  # the temporary relation of ids of stored rows that are no longer produced


def fresh_statement(stage: RecomputeStage) -> exp.Create:
    return exp.Create(this=exp.Table(this=ident(FRESH)), kind="TABLE", replace=True,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=body(stage))


def _numbered(stage: RecomputeStage, relation: exp.Table, with_rid: bool, spelled: Collection[str]) -> exp.Select:
    spellings = spelling_names(stage.columns, spelled)
    cols = [column(c) for c in stage.columns] + [spelling(column(c)) for c in spellings]
    number = exp.Window(this=exp.RowNumber(), partition_by=[c.copy() for c in cols])
    picks = ([column(RID)] if with_rid else []) + [column(c) for c in stage.columns] \
        + [exp.alias_(spelling(column(c)), ident(s)) for c, s in spellings.items()] + [exp.alias_(number, ident("__ivm_n"))]
    return exp.select(*picks).from_(relation)


def _unmatched(stage: RecomputeStage, left: exp.Select, right: exp.Select, spelled: Collection[str]) -> exp.Select:
    """Rows of ``left`` with no partner in ``right`` (same values, same occurrence number)."""
    spellings = spelling_names(stage.columns, spelled)
    on = and_all([null_safe_eq(column(c, "l"), column(c, "r")) for c in
                  [spellings.get(c, c) for c in stage.columns]]
                 + [exp.EQ(this=column("__ivm_n", "l"), expression=column("__ivm_n", "r"))])
    return exp.select(exp.Star()).from_(exp.Subquery(this=left, alias=exp.TableAlias(this=ident("l")))) \
        .join(exp.Subquery(this=right, alias=exp.TableAlias(this=ident("r"))), on=on, join_type="ANTI")


def gone_statement(stage: RecomputeStage, spelled: Collection[str] = ()) -> exp.Create:
    stored = _numbered(stage, internal_table(stage.name), True, spelled)
    fresh = _numbered(stage, exp.Table(this=ident(FRESH)), False, spelled)
    gone = exp.select(column(RID, "__g")).from_(
        exp.Subquery(this=_unmatched(stage, stored, fresh, spelled), alias=exp.TableAlias(this=ident("__g"))))
    return exp.Create(this=exp.Table(this=ident(GONE)), kind="TABLE", replace=True,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=gone)


def delete_statement(stage: RecomputeStage) -> exp.Delete:
    statement = exp.Delete(this=internal_table(stage.name), where=exp.Where(this=exp.In(
        this=column(RID), query=exp.Subquery(this=exp.select(column(RID)).from_(exp.Table(this=ident(GONE)))))))
    statement.set("returning", exp.Returning(expressions=[column(RID)]))
    return statement


def insert_statement_for(stage: RecomputeStage, spelled: Collection[str] = ()) -> exp.Insert:
    """Insert the recomputed rows that have no partner among the stored rows (run before the delete)."""
    stored = _numbered(stage, internal_table(stage.name), False, spelled)
    fresh = _numbered(stage, exp.Table(this=ident(FRESH)), False, spelled)
    new_rows = exp.select(*[column(c, "__i") for c in stage.columns]).from_(
        exp.Subquery(this=_unmatched(stage, fresh, stored, spelled), alias=exp.TableAlias(this=ident("__i"))))
    return insert_statement(stage, new_rows)
