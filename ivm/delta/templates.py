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

import json
import re
from typing import Callable, Hashable, Iterable, Sequence

from sqlglot import exp

from ivm.delta.rids import RidSet
from ivm.sql import DIALECT, fill, render, slot

GONE_MARKER = slot("gone")  # stands for the relation of leaving rows an aggregate reads


def _marker(index: int) -> RidSet:
    return RidSet(relation=slot(f"ids{index}"), count=1)


class StaleTemplate(Exception):
    """A statement text kept in the database file differs from rendering it again (check mode only)."""


class Templates:
    """Statement texts keyed by what they are for (a stage name and a statement kind, typically).

    Owned by the database and cleared whenever the plans change. The markers are the slots of
    :func:`ivm.sql.fill`, which does the substitution. Texts kept in the database file
    (:mod:`ivm.store.template_cache`) are :meth:`adopt`-ed and used instead of rendering, each after a check
    that it is one statement of a kind delta rules run; with ``check`` they are rendered anyway and compared."""

    def __init__(self, dialect: str = DIALECT):
        self.dialect = dialect
        self._texts: dict[Hashable, str] = {}
        self._stored: dict[Hashable, str] = {}
        self._check = False
        self.rendered = 0  # texts made in this process that the file does not hold: what is worth storing

    def clear(self) -> None:
        self._texts.clear()
        self._stored.clear()

    def adopt(self, stored: dict[Hashable, str], check: bool = False) -> None:
        """Texts read from the file, used on first need (``check``: rendered anyway and compared)."""
        self._stored = dict(stored)
        self._check = check

    def entries(self) -> dict[Hashable, str]:
        """Every text known: those used or rendered here, and those adopted but not needed yet."""
        return {**self._stored, **self._texts}

    def statement(self, key: Hashable, make: Callable[[], str]) -> str:
        """The rendered statement under ``key``: kept, adopted from the file, or ``make()``."""
        return self._recall(key, make, _runnable)

    def names(self, key: Hashable, find: Callable[[], Iterable[str]]) -> frozenset[str]:
        """A set of column names under ``key`` (what a stage asked DuckDB once), kept like a statement."""
        return frozenset(json.loads(self._recall(key, lambda: json.dumps(sorted(find())), _names)))

    def _recall(self, key: Hashable, make: Callable[[], str], valid: Callable[[str], bool]) -> str:
        text = self._texts.get(key)
        if text is not None:
            return text
        stored = self._stored.pop(key, None)
        if stored is not None and not self._check and valid(stored):
            self._texts[key] = stored
            return stored
        text = self._texts[key] = make()
        if stored != text:  # new to the file (one the lexical check turned down is rendered as it was stored)
            self.rendered += 1
        if stored is not None and self._check and stored != text:
            raise StaleTemplate(f"{key!r}: the file holds {stored!r}, rendering gives {text!r}")
        return text

    def text(self, key: Hashable, build: Callable[..., exp.Expression], sets: Sequence[RidSet] = (),
             gone: str | None = None) -> str:
        """The statement ``build(*markers)`` with the markers replaced by ``sets`` (and ``gone``).

        ``build`` receives one marker :class:`RidSet` per id set, in order, and, when ``gone`` is given,
        must read the leaving rows from the relation named :data:`GONE_MARKER`."""
        template = self.statement(key, lambda: render(build(*[_marker(i) for i in range(len(sets))]), self.dialect))
        return fill(template, {"gone": gone} if gone is not None else None,
                    {f"ids{i}": rids for i, rids in enumerate(sets)}, self.dialect)


# What a delta statement from the file may be: one statement of a kind delta rules run, never a COPY, ATTACH,
# SET or a second statement after a `;`. Checked lexically (~0.01 ms per text of the 99 TPC-DS views; DuckDB's
# parser took 0.17 ms): string literals, quoted names and comments are removed first, and a text with anything this
# cannot lex (dollar quoting, backslash escapes) is rendered again instead.
_QUOTED_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_STARTS = ("SELECT ", "WITH ", "INSERT INTO ", "UPDATE ", "DELETE FROM ", "CREATE OR REPLACE TEMPORARY TABLE ")


def _runnable(text: str) -> bool:
    if "$" in text or "\\" in text:
        return False
    bare = _QUOTED_OR_COMMENT.sub(" ", text)
    return (text.startswith(_STARTS) and ";" not in bare and "'" not in bare and '"' not in bare
            and "/*" not in bare)


def _names(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, list) and all(isinstance(name, str) for name in value)
