"""The lineage of a prep view's rows in terms of *source* rows: the row's identity for the ML layer.

A select-project-join stage stores, per row, the row ids of the input rows it was built from
(``__ivm_l{i}``). When an input is itself an SPJ stage (a view read by the prep view, a CTE), its row ids
are renumbered by every recompute, so they are followed down to the sources: the result is, per prep row,
one source ``__ivm_rid`` per scan of a source. Those ids are stable: a deletion never renumbers them and a
full recompute rebuilds the same rows with the same ids, so the split and the UDF cache keyed by them agree
with a full rerun.

Rows of aggregates and recompute fallbacks have no such lineage (they stand for many source rows, and are
replaced when those change), so a prep view must be select-project-join down to its sources.
"""
from __future__ import annotations

from dataclasses import dataclass

from ivm.delta.materialise import lineage_column
from ivm.errors import IvmError
from ivm.plan.nodes import SpjStage
from ivm.sql import RID

PREP = "__u"  # alias of the prep view's stage table in every ML query


@dataclass(frozen=True)
class Lineage:
    """``sources[j]`` is the source table whose row ids lineage column ``s{j}`` holds; ``expressions[j]``
    computes it over ``joins`` (NULL, for another UNION ALL branch, becomes 0: row ids start at 1)."""

    sources: tuple[str, ...]
    expressions: tuple[str, ...]
    joins: str

    @property
    def names(self) -> list[str]:
        return [key(j) for j in range(len(self.sources))]


def key(j: int) -> str:
    return f"s{j}"


def export_names(sources) -> list[str]:
    """Names of the lineage columns in exports: ``<source>_rid`` (``_2``, ``_3`` for a source read twice).

    Example:
        >>> export_names(["orders", "customers", "orders"])
        ['orders_rid', 'customers_rid', 'orders_rid_2']
    """
    names, seen = [], {}
    for source in sources:
        seen[source] = seen.get(source, 0) + 1
        names.append(f"{source}_rid" + (f"_{seen[source]}" if seen[source] > 1 else ""))
    return names


def resolve(db, view: str) -> Lineage:
    """Follow the output stage of ``view`` down to the sources (see the module docstring)."""
    stages = {stage.name: stage for stage in db.stages}
    sources = set(db.sources)
    found: list[tuple[str, str]] = []
    joins: list[str] = []

    def walk(stage_name: str, alias: str, path: str) -> None:
        stage = stages[stage_name]
        if not isinstance(stage, SpjStage):
            what = {"aggregate": "an aggregate", "recompute": "maintained by recompute",
                    "per-row": "a per-row stage (an outer join, a subquery or EXISTS: a row keeps the lineage "
                               "of its driver row only)",
                    "partition": "a window stage", "top-k": "a top-k stage"}.get(stage.kind, f"a {stage.kind} stage")
            raise IvmError(f"{path} is {what}, so its rows have no lineage to every source row; a feature set "
                           "needs a prep view built from source rows by select/project/join (one row per "
                           "example), so that every row keeps its identity across deletions")
        scans = {scan.lineage: scan.relation for branch in stage.branches for scan in branch.scans}
        for index in range(stage.lineage_count):
            relation = scans[index]
            expression = f'{alias}."{lineage_column(index)}"'
            if relation in sources:
                found.append((relation, expression))
            elif relation in stages:
                inner = f'"__a{len(joins)}"'
                joins.append(f'LEFT JOIN "_ivm"."{relation}" AS {inner} ON {inner}."{RID}" = {expression}')
                walk(relation, inner, f"{path} (through {relation})")
            else:
                raise IvmError(f"{path} reads {relation}, which is neither a source nor a stage")

    if view in sources:  # a source table as the prep relation: each row is its own lineage
        return Lineage(sources=(view,), expressions=(f'"{PREP}"."{RID}"',), joins="")
    if view not in db.plans:
        raise IvmError(f"unknown view {view}; views: {', '.join(db.plans) or 'none'}")
    walk(db.plans[view].output.name, f'"{PREP}"', f"view {view}")
    if not found:
        raise IvmError(f"view {view} reads no source table; a feature set needs rows with lineage")
    return Lineage(sources=tuple(s for s, _ in found),
                   expressions=tuple(f"COALESCE({e}, 0)" for _, e in found),
                   joins=" ".join(joins))


def base_query(db, view: str, lineage: Lineage, extra: list[str] = (), inner: list[str] = ()) -> str:
    """``SELECT s0, .., s{m-1}, extra... FROM`` the prep stage and the joins that resolve its lineage.

    ``inner`` are expressions evaluated over the prep stage alone (``label AS "__ivm_label"``: the user's SQL,
    whose unqualified names must mean the prep view's columns); ``extra`` are expressions over ``__u``, the
    prep stage with the ``inner`` columns added."""
    select = [f'{e} AS "{n}"' for e, n in zip(lineage.expressions, lineage.names)] + list(extra)
    stage = f'"_ivm"."{db.plans[view].output.name if view in db.plans else view}"'
    if inner:
        stage = f'(SELECT *, {", ".join(inner)} FROM {stage})'
    return f'SELECT {", ".join(select)} FROM {stage} AS "{PREP}" {lineage.joins}'
