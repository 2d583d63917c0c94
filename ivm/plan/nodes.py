"""The plan: a view becomes a chain of stages, each one materialised and maintained by one delta rule.

A stage is the unit of maintenance. Splitting views at aggregate, DISTINCT and fallback boundaries means
every stage is one of three shapes, and each shape has one rule:

* :class:`SpjStage`: select-project-join (inner joins, any condition) and UNION ALL of such branches.
  Each output row carries the row id of every input row it was built from (its *lineage*), so a deletion
  removes exactly the rows whose lineage mentions a deleted id.
* :class:`AggregateStage`: GROUP BY (or DISTINCT) over one input stage. The groups touched by a change
  are recomputed from the input, which is exact for every deterministic aggregate, MIN/MAX and
  COUNT DISTINCT included.
* :class:`RecomputeStage`: anything else; recomputed and diffed against the stored rows, and named as a
  fallback in ``explain``.

Stages hold sqlglot expressions over ivm's internal tables; they are frozen and never mutated (builders
copy what they change).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

SPJ, AGGREGATE, RECOMPUTE = "spj", "aggregate", "recompute"


@dataclass(frozen=True)
class Scan:
    """One read of an input relation inside a branch; ``lineage`` numbers its lineage column."""

    relation: str
    alias: str
    lineage: int


@dataclass(frozen=True)
class Branch:
    """A SELECT ... FROM ... JOIN ... WHERE over internal tables, with the stage's column aliases."""

    select: exp.Select
    scans: tuple[Scan, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    columns: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def kind(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class SpjStage(Stage):
    branches: tuple[Branch, ...]

    kind = SPJ

    @property
    def lineage_count(self) -> int:
        return sum(len(b.scans) for b in self.branches)


@dataclass(frozen=True)
class StateColumn:
    """One running aggregate stored beside a group: ``function`` is count_star, count, sum, min or max."""

    function: str
    argument: exp.Expression | None
    name: str


@dataclass(frozen=True)
class AggregateStage(Stage):
    """``select`` reads the input as ``__core`` and still has its GROUP BY and HAVING; ``keys`` are the
    grouping expressions over ``__core`` (empty for a global aggregate).

    When every aggregate can be maintained by subtraction (COUNT, exact SUM/AVG, MIN/MAX), ``state``
    lists the running aggregates stored per group and ``outputs`` computes each output column from the
    state and key columns; otherwise both are empty and touched groups are recomputed.
    """

    source: str
    select: exp.Select
    keys: tuple[exp.Expression, ...]
    state: tuple[StateColumn, ...] = ()
    outputs: tuple[exp.Expression, ...] = ()

    @property
    def subtractive(self) -> bool:
        return bool(self.outputs)

    kind = AGGREGATE


@dataclass(frozen=True)
class RecomputeStage(Stage):
    query: exp.Query
    reason: str

    kind = RECOMPUTE


@dataclass(frozen=True)
class ViewPlan:
    """A deployed view: its stages in dependency order (the last one is the view itself)."""

    name: str
    sql: str
    columns: tuple[str, ...]
    stages: tuple[Stage, ...]

    @property
    def output(self) -> Stage:
        return self.stages[-1]
