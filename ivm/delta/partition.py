"""Delta rule for partition stages (window functions, INTERSECT / EXCEPT, set and ALL).

The stage's output falls apart into partitions, and an input row belongs to the partition its key
expressions compute (a window's PARTITION BY; every column for INTERSECT/EXCEPT). Rows of one partition are
computed from input rows of the same partition only, so a change recomputes just the partitions of the
rows that left or entered: every input is read through a semi join with those keys, and the result
replaces the stored rows of those partitions (:mod:`ivm.delta.diff`). Keys match with IS NOT DISTINCT FROM,
so NULL is a partition like any other. A stage without keys (a window with no PARTITION BY) is one
partition: any change recomputes all of it.
"""
from __future__ import annotations

from sqlglot import exp

from ivm.delta.diff import STORED
from ivm.plan.nodes import KeyedScan, PartitionStage
from ivm.sql import and_all, column, ident, internal_table, null_safe_eq


def key_column(index: int) -> str:
    return f"__ivm_p{index}"


def hidden_columns(stage: PartitionStage) -> list[str]:
    return [key_column(i) for i in range(stage.key_count)]


def body(stage: PartitionStage) -> exp.Query:
    return stage.query.copy()


def key_select(scan: KeyedScan, rows: exp.Expression) -> exp.Select:
    """The keys of ``rows`` (a table or query with the scanned relation's columns), read as the scan's alias."""
    source = rows.copy() if isinstance(rows, exp.Table) else exp.Subquery(this=rows.copy())
    source.set("alias", exp.TableAlias(this=ident(scan.alias)))
    return exp.select(*[exp.alias_(k.copy(), ident(key_column(i))) for i, k in enumerate(scan.keys)]).from_(source)


def affected_statement(into: str, parts: list[exp.Query]) -> exp.Create:
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    select = exp.select(exp.Star()).from_(exp.Subquery(this=query, alias=exp.TableAlias(this=ident("__k")))) \
        .distinct()
    return exp.Create(this=exp.Table(this=ident(into)), kind="TABLE", replace=True,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=select)


def _matches(keys: list[exp.Expression], affected: str) -> exp.Expression:
    return and_all(null_safe_eq(k.copy(), column(key_column(i), affected)) for i, k in enumerate(keys))


def fresh_query(stage: PartitionStage, affected: str | None) -> exp.Query:
    """The stage's query over only the affected partitions of every input (all of them if None)."""
    query = stage.query.copy()
    if affected is None:
        return query
    by_alias = {scan.alias: scan for scan in stage.scans}
    for table in list(query.find_all(exp.Table)):
        scan = by_alias.get(table.alias_or_name)
        if scan is None or not table.args.get("db") or table.name != scan.relation:
            continue
        rows = exp.select(exp.Star()).from_(internal_table(scan.relation, scan.alias)).join(
            exp.Table(this=ident(affected)), on=_matches(list(scan.keys), affected), join_type="SEMI")
        table.replace(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident(scan.alias))))
    return query


def restriction(stage: PartitionStage, affected: str | None):
    if affected is None:
        return None
    keys = [column(key_column(i), STORED) for i in range(stage.key_count)]
    return lambda select: select.join(exp.Table(this=ident(affected)), on=_matches(keys, affected), join_type="SEMI")
