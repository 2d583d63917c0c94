"""Sets of row ids that changed in one relation, and how SQL refers to them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

from ivm.sql import in_relation, in_values

# Up to this many ids are written into the statement as literals, which lets DuckDB probe an index (long
# lists cost more to plan than a join); bigger sets are registered as a relation and joined.
LITERAL_LIMIT = 256  # measured at 1M rows: 100 literals ~3 ms, 1000 ~25-30 ms, a temporary table ~5-12 ms


@dataclass(frozen=True)
class RidSet:
    """Row ids of one relation: either spelled out (``values``) or stored in a relation (``relation``)."""

    values: tuple[int, ...] = ()
    relation: str | None = None
    count: int = 0

    @classmethod
    def of(cls, values: Sequence[int]) -> "RidSet":
        return cls(values=tuple(values), count=len(values))

    @classmethod
    def symbolic(cls, relation: str) -> "RidSet":
        """A stand-in used by ``explain`` to show the shape of a delta statement."""
        return cls(relation=relation, count=1)

    def __bool__(self) -> bool:
        return self.count > 0

    def contains(self, target: exp.Expression) -> exp.Expression:
        if self.relation is not None:
            return in_relation(target, self.relation)
        return in_values(target, self.values)
