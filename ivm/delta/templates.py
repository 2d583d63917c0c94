"""Delta statements rendered once per stage, with holes for the ids a deletion fills in.

Building a sqlglot tree and rendering it costs about a millisecond per statement in Python; a small
deletion on an indexed table costs about as much in DuckDB. So each statement is built and rendered once,
with marker relations standing in for the id sets (and for the leaving rows an aggregate reads), and
later deletions substitute the markers in the text. The text still comes from :func:`ivm.sql.render`, so
the dialect stays a parameter; the substitutes are integer lists and relation names, which read the same
in every SQL dialect.

Example:
    >>> from ivm.sql import column, in_values
    >>> templates = Templates()
    >>> build = lambda ids: ids.contains(column("x"))
    >>> templates.text(("demo",), build, [RidSet.of([1, 2])])
    '"x" IN (1, 2)'
    >>> templates.text(("demo",), build, [RidSet(relation="__ivm_rids_0", count=5000)])
    '"x" IN (SELECT "__ivm_rid" FROM "__ivm_rids_0")'
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

from sqlglot import exp

from ivm.delta.rids import RidSet
from ivm.sql import DIALECT, fill, render, slot

GONE_MARKER = slot("gone")  # stands for the relation of leaving rows an aggregate reads


def _marker(index: int) -> RidSet:
    return RidSet(relation=slot(f"ids{index}"), count=1)


class Templates:
    """Statement texts keyed by what they are for (a stage name and a statement kind, typically).

    Owned by the database and cleared whenever the plans change. The markers are the slots of
    :func:`ivm.sql.fill`, which does the substitution."""

    def __init__(self, dialect: str = DIALECT):
        self.dialect = dialect
        self._texts: dict[Hashable, str] = {}

    def clear(self) -> None:
        self._texts.clear()

    def text(self, key: Hashable, build: Callable[..., exp.Expression], sets: Sequence[RidSet] = (),
             gone: str | None = None) -> str:
        """The statement ``build(*markers)`` with the markers replaced by ``sets`` (and ``gone``).

        ``build`` receives one marker :class:`RidSet` per id set, in order, and, when ``gone`` is given,
        must read the leaving rows from the relation named :data:`GONE_MARKER`."""
        template = self._texts.get(key)
        if template is None:
            template = self._texts[key] = render(build(*[_marker(i) for i in range(len(sets))]), self.dialect)
        return fill(template, {"gone": gone} if gone is not None else None,
                    {f"ids{i}": rids for i, rids in enumerate(sets)}, self.dialect)
