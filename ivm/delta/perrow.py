"""Delta rule for per-row stages (outer joins, EXISTS / IN / scalar subqueries, correlated or not).

Every row of such a stage holds exactly one row of its branch's *driver* (stored as lineage ``__ivm_l<b>``);
everything else the branch reads is a *lookup*. So:

* a deleted driver row deletes exactly its rows, by lineage, and nothing enters;
* a changed lookup row can only change the rows of the driver rows its *probe* reaches: the branch's joins
  with the lookup replaced by the changed rows (and, for a subquery, the subquery's WHERE as a join
  condition). Deleted rows are probed against the other inputs' state before the deletion, inserted rows
  against the state after it, so every driver row whose rows could differ is found;
* those driver rows are re-evaluated with the branch's own SELECT and the difference applied
  (:mod:`ivm.delta.diff`). A LEFT JOIN row that lost its last partner comes back null-padded, a NOT EXISTS
  that became true lets its row in, a changed correlated AVG re-filters its rows.

A lookup without a probe (an uncorrelated subquery) reaches every driver row; its maintained result is
usually one row, and nothing is re-evaluated unless that row's values really changed.
"""
from __future__ import annotations

from typing import Mapping

from sqlglot import exp

from ivm.delta.diff import STORED, spelling
from ivm.delta.materialise import lineage_column
from ivm.delta.rids import RidSet
from ivm.plan.lower import PROBE
from ivm.plan.nodes import Lookup, PerRowStage
from ivm.sql import RID, column, ident, internal_table


def branch_select(stage: PerRowStage, index: int, driver_rows: exp.Expression | None = None) -> exp.Select:
    """Branch ``index`` with its lineage columns; ``driver_rows`` replaces the driver's table (a query
    over the driver's stored columns) to evaluate only some driver rows."""
    branch = stage.branches[index]
    select = branch.select.copy()
    if driver_rows is not None:
        for table in _from_tables(select):
            if table.alias_or_name == branch.driver.alias and table.args.get("db"):
                table.replace(exp.Subquery(this=driver_rows, alias=exp.TableAlias(this=ident(branch.driver.alias))))
                break
    lineage = []
    for i in range(len(stage.branches)):
        value = column(RID, branch.driver.alias) if i == index else exp.cast(exp.Null(), "BIGINT")
        lineage.append(exp.alias_(value, ident(lineage_column(i))))
    return select.select(*lineage, append=True)


def body(stage: PerRowStage) -> exp.Query:
    query = branch_select(stage, 0)
    for index in range(1, len(stage.branches)):
        query = exp.union(query, branch_select(stage, index), distinct=False)
    return query


def hidden_columns(stage: PerRowStage) -> list[str]:
    return [lineage_column(i) for i in range(len(stage.branches))]


def _from_tables(select: exp.Select) -> list[exp.Expression]:
    sources = [select.args["from_"].this] if select.args.get("from_") else []
    return sources + [j.this for j in select.args.get("joins") or []]


def lineage_hit(index: int, ids: RidSet) -> exp.Expression:
    return ids.contains(column(lineage_column(index)))


def rows_of(relation: str, ids: RidSet) -> exp.Select:
    """``SELECT * FROM relation WHERE __ivm_rid IN ids``: inserted rows, read from the current table."""
    return exp.select(exp.Star()).from_(internal_table(relation)).where(ids.contains(column(RID)))


def old_state(relation: str, inserted: RidSet, gone: str) -> exp.Query:
    """A relation as it was before this deletion: its rows minus the inserted ones plus the gone ones."""
    kept = exp.select(exp.Star()).from_(internal_table(relation))
    if inserted:
        kept = kept.where(exp.not_(inserted.contains(column(RID))))
    return exp.union(kept, exp.select(exp.Star()).from_(exp.Table(this=ident(gone))), distinct=False)


def probe_query(lookup: Lookup, driver_alias: str, changed_rows: exp.Query | str,
                others: Mapping[str, exp.Query]) -> exp.Query:
    """The driver row ids ``lookup``'s changed rows reach. ``changed_rows`` is a query or the name of a
    temporary table; ``others`` maps relation names to the state other reads of them must see."""
    probe = lookup.probe.copy()
    for table in list(probe.find_all(exp.Table)):
        alias = table.alias_or_name
        if table.name == PROBE and not table.args.get("db"):
            source = exp.Table(this=ident(changed_rows)) if isinstance(changed_rows, str) else None
            rows = exp.select(exp.Star()).from_(source) if source is not None else changed_rows.copy()
            read = _columns_read(probe, alias)
            if read is not None:
                rows = one_row_per_value(rows, read)
            table.replace(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident(alias))))
        elif table.args.get("db") and alias != driver_alias and table.name in others:
            table.replace(exp.Subquery(this=others[table.name].copy(), alias=exp.TableAlias(this=ident(alias))))
    return probe


def _columns_read(probe: exp.Query, alias: str) -> list[str] | None:
    """The columns of the changed rows (read as ``alias``) that the probe compares, sorted; None when it reads
    them otherwise too (a star, an unqualified column, the row id beyond its one NOT NULL marker)."""
    if any(star.args.get("table") is None or star.text("table") == alias for star in probe.find_all(exp.Star)
           if not isinstance(star.parent, exp.Count)):
        return None
    names, ids = set(), 0
    for col in probe.find_all(exp.Column):
        if not col.table:
            return None
        if col.table == alias:
            if col.name == RID:
                ids += 1
            else:
                names.add(col.name)
    return sorted(names) if ids == 1 else None


def one_row_per_value(rows: exp.Query, names: list[str]) -> exp.Select:
    """One of ``rows`` per distinct value of the columns ``names`` (all of them alike where there are none):
    those columns and a row id, all the probe reads of them (:func:`_columns_read`).

    A probe joins the changed rows with every driver row they may reach before it takes the distinct driver
    ids: with many changed rows per correlation key (a key of two values, or one holding half the rows) that
    join held (driver rows per key) x (changed rows per key) rows, 12.6 s where a recompute took 29 ms
    (deleting half of 100,000 orders under ``amount > (SELECT AVG(amount) .. WHERE g = o.g)``, g of two values).
    The probe reads nothing of a changed row but the columns it compares, so one row per value finds the same
    driver rows. Values are told apart as GROUP BY tells them and by their text (:func:`ivm.delta.diff.spelling`):
    a collation or -0.0 must not merge two values a comparison in the probe could tell apart, nor the text two
    values of a UNION or VARIANT that print alike."""
    inner = exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("__ivm_changed")))
    if not names:
        return exp.select(exp.Star()).from_(inner).limit(1)
    values = [column(name, "__ivm_changed") for name in names]
    # a GROUP BY, not a window keeping row 1 per partition: 25,000 changed rows of 20,000 keys, 10 ms against 13
    return exp.select(*[exp.alias_(value.copy(), ident(name)) for value, name in zip(values, names)],
                      exp.alias_(exp.AnyValue(this=column(RID, "__ivm_changed")), ident(RID))).from_(inner).group_by(
        *[value.copy() for value in values], *[spelling(value.copy()) for value in values])


def affected_query(parts: list[exp.Query]) -> exp.Select:
    """The distinct driver row ids any part reaches."""
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return exp.select(column(RID)).from_(exp.Subquery(this=query, alias=exp.TableAlias(this=ident("__a")))) \
        .distinct()


def inserted_driver_rows(relation: str, ids: RidSet) -> exp.Select:
    return exp.select(column(RID)).from_(internal_table(relation)).where(ids.contains(column(RID)))


def fresh_query(stage: PerRowStage, index: int, affected: RidSet | None) -> exp.Select:
    """The branch's rows for the affected driver rows (all of them when ``affected`` is None)."""
    if affected is None:
        return branch_select(stage, index)
    driver = stage.branches[index].driver
    rows = exp.select(exp.Star()).from_(internal_table(driver.relation)).where(affected.contains(column(RID)))
    return branch_select(stage, index, rows)


def restriction(index: int, affected: RidSet | None):
    """The stored rows of branch ``index`` whose driver row is affected (every row of the branch if None)."""
    target = column(lineage_column(index), STORED)
    if affected is None:
        condition = exp.not_(exp.Is(this=target, expression=exp.Null()))
    else:
        condition = affected.contains(target)
    return lambda select: select.where(condition.copy())
