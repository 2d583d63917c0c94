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
    # a whole view that falls back keeps the user's SQL text verbatim in a DuckDB view of this text (its
    # query reads that view): names DuckDB generates for unaliased expressions survive, which sqlglot's
    # re-rendering could change (CAST(x AS VARCHAR) -> CAST(x AS TEXT))
    sql: str | None = None

    kind = RECOMPUTE


# ---------------------------------------------------------------------------------------------------------
# Stages for the rest of SQL (outer joins, subqueries, set operations, windows, top-k). Deletions can make
# rows *enter* these stages, so their rules report both deleted and inserted row ids.

PER_ROW, PARTITION, TOP_K = "per-row", "partition", "top-k"


@dataclass(frozen=True)
class Lookup:
    """A read of ``relation`` (as ``alias``) that is not the driver: an outer-join partner or a table inside
    a subquery. ``probe`` selects the driver row ids a changed row of the relation can reach; its table
    ``__ivm_probe`` stands for the changed rows. ``probe`` is None when no such query exists (the lookup
    is uncorrelated, or its change can pad rows before the RIGHT join driving the branch with NULLs that
    the join's condition may match, see :func:`ivm.plan.lower._pads_before_driver`): then every driver row
    is affected, and ``reason`` says why."""

    relation: str
    alias: str
    probe: exp.Query | None
    reason: str = ""
    role: str = ""  # what reads it: "LEFT JOIN", "NOT EXISTS", "scalar subquery", ...


@dataclass(frozen=True)
class RowBranch:
    """One SELECT over internal tables in which every output row contains exactly one row of the driver."""

    select: exp.Select
    driver: Scan
    lookups: tuple[Lookup, ...]


@dataclass(frozen=True)
class PerRowStage(Stage):
    """Rows built from one driver row each, plus lookups (LEFT/RIGHT joins, FULL joins split in two
    branches, EXISTS/IN/scalar subqueries, correlated or not). A deleted driver row deletes its rows by
    lineage; a changed lookup row re-evaluates only the driver rows its probe reaches."""

    branches: tuple[RowBranch, ...]

    kind = PER_ROW


@dataclass(frozen=True)
class KeyedScan:
    """A read of ``relation`` as ``alias`` whose rows fall into partitions by ``keys`` (empty: one
    partition holding everything)."""

    relation: str
    alias: str
    keys: tuple[exp.Expression, ...]


@dataclass(frozen=True)
class PartitionStage(Stage):
    """A query whose output falls apart into partitions computable from each input row (window
    PARTITION BY, every column of INTERSECT/EXCEPT): a change recomputes only the partitions of the rows
    that changed. ``query`` yields the stage's columns followed by one hidden key column per key."""

    query: exp.Query
    scans: tuple[KeyedScan, ...]
    key_count: int
    what: str = ""  # e.g. "window", "EXCEPT ALL": for explain

    kind = PARTITION

    @property
    def global_(self) -> bool:
        return self.key_count == 0


@dataclass(frozen=True)
class OrderKey:
    name: str  # a column of the top-k stage (a user column or a hidden __ivm_o column)
    desc: bool
    nulls_first: bool


@dataclass(frozen=True)
class TopKStage(Stage):
    """ORDER BY ... LIMIT k OFFSET m over one input: ``select`` reads ``source`` as ``alias`` and yields
    the stage's columns, then ``hidden`` sort-key columns. Ties are broken by every output column, so the
    kept rows are one valid answer, always the same one."""

    source: str
    alias: str
    select: exp.Select
    hidden: tuple[str, ...]
    order: tuple[OrderKey, ...]
    limit: int | None
    offset: int

    kind = TOP_K


@dataclass(frozen=True)
class ViewPlan:
    """A deployed view: its stages in dependency order (the last one is the view itself)."""

    name: str
    sql: str
    columns: tuple[str, ...]
    stages: tuple[Stage, ...]
    # the query with its ties broken (:mod:`ivm.plan.ties`), when it had any: the one answer the stages keep,
    # and what ``verify`` recomputes instead of the user's text
    tie_broken: str | None = None

    @property
    def output(self) -> Stage:
        return self.stages[-1]
