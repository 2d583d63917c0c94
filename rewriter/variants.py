"""Generated variants of the source data, so that a rewrite cannot pass verification by accident.

A rewrite that matches the original on the real files may still be wrong where the data happens not to show
it: an inner join where every row has a partner, a ``>`` where no value sits on the boundary. Each variant
below changes the data in one way (deterministically, from a seed) and both the original script and the SQL
run on it:

* ``subsample``: a random 60% of each source's rows;
* ``orphans:NAME``: 40% of NAME's rows removed, so rows of other sources lose their join partner (at least
  one removed row has a partner: a key value that occurs in another source);
* ``duplicates``: a third of the rows appear twice;
* ``boundary_numbers`` and ``boundary_dates``: numbers set to the constants the script compares with, one
  step either side, and zero; dates set to the script's dates (also those it computes: ``D - timedelta(30)``,
  ``(D - day).days > 30``) and the days either side, and to the turn of each year when it numbers weeks
  (timestamps also to the second before and to noon of each such day; in a column whose values carry a UTC
  offset, written with offset zero, spelled as the column spells its offsets; late and early in the UTC day
  where the script converts time zones);
* ``case``: text values in other letter case, and the script's own string constants in several cases;
* ``string_constants``: the script's string constants as written, each in at least one row of every column of
  words (a filter keeping ``isin(["shipped", "delivered"])`` needs both spellings in the data), and with an
  ``x`` for a dot, ``_`` or ``%`` in them (``EUx`` tells ``LIKE 'EU_%'`` from ``startswith("EU_")``);
* ``empty_and_constants``: the script's string constants as written and, in other rows of the same columns,
  empty cells (``fillna("Unknown")`` merges the empty cells with a real ``Unknown`` before a ``groupby``; SQL
  keeps them apart unless it coalesces first);
* ``recased_constants``: those constants (the ones naming no column) in another case (``Cancelled`` where
  the script lowers a column and compares it with ``"cancelled"``);
* ``whitespace``: spaces or a tab before or after some values of text columns, or two spaces between every
  two words (columns of words, and text columns the script strips or re-cases itself, such as a flag written
  1/0 by one system and yes/no by another; the same for ``unicode_spaces``, ``blank_text`` and the constants);
* ``unicode_spaces``: a no-break space (U+00A0) before, inside or after some values of columns of words
  (``strip()`` and ``split()`` take it for a space, DuckDB's ``\\s`` and ``trim(x, ' ' || chr(9))`` do not);
* ``multiword``: a word that begins one of the column's values put in front of some values of a column of
  words, the same word each time (``van Dijk, Jan`` and ``van Rijn, Eva``: the first word no longer tells
  them apart);
* ``blank_text``: cells of spaces only in columns of words (``strip() or "internal"`` fills them, ``coalesce`` not);
* ``fractions``: some numbers with the fractional part .5 or .7 (``int()`` truncates, a cast rounds);
  ``integer_fractions`` the same in columns of whole numbers DuckDB reads as text (``int("137.5")`` raises where
  ``try_cast`` rounds);
* ``halfway``: every fractional number halfway at one or two decimals (.25, .35, .675, .5 in turn: Python's
  ``round(12.25, 1)`` is 12.2, DuckDB's ``round`` 12.3);
* ``lookalikes``: text with a letter for a digit (or a digit for a letter), each digit 0 (9 for a 0), or one
  character more or fewer (``str.fullmatch(r"[A-Z]\\d{3}")`` against ``LIKE '____'``, ``[1-4]`` against ``\\d``);
* ``date_formats``: text dates in each date format the script parses with, in turn;
* ``json_text`` and ``json_nulls``: in a text column of JSON documents, text values in other case or with spaces
  or a tab around them; one key of each document left out (a number sometimes null, an array emptied);
* ``ties``: every number rounded to one significant digit (858.00 -> 900.00), so that many rows tie, also at the
  top of a group (``rank()`` against ``rank(method="dense")``);
* ``negative_numbers``: some numbers with the other sign (in a text column whose values are mostly numbers
  too: ``n/a`` among integers makes DuckDB read it as VARCHAR);
* ``cleaned_keys``: a key the script cleans (``.str.strip().str.lower()``), spaced and re-cased in the sources
  where its values do not repeat (``case`` and ``whitespace`` vary the side that looks up only);
* ``gaps``: where the script writes durations (``pd.Timedelta(minutes=30)``), the timestamps of each column in
  time order set that far apart (``diff() > gap`` against ``>= gap``);
* ``boundary_times``: in columns DuckDB reads as TIME, the script's times of day and whole hours (else midnight
  and noon) and the minute either side (``< "18:00"`` against ``< TIME '17:59'``);
* ``empty_text`` and ``empty_numbers``: empty fields in text columns, or in number, date, time and yes/no
  (BOOLEAN) columns;
* ``empty_keys``: empty fields in the key columns of the largest source whose values repeat there (a guest
  order's ``customer_id``), else of the largest source with keys (an order without ``order_id``);
* ``empty_lookup_keys``: one empty field in each key column of the smallest source other than that one (a
  blank line in a block list: ``NOT IN`` a subquery holding NULL keeps no row);
* ``empty_group_numbers``: every number of the rows of one value of a column the script groups by (else of a
  repeated key) empty (all of one customer's amounts missing: pandas sums the group to 0, SQL's ``SUM`` gives
  NULL), and its yes/no cells too (``any()`` gives False, ``bool_or`` NULL).

Key columns (``id``, ``*_id``, and names several sources share that look like keys, ``*_code``, or that the
script joins or looks up by: ``merge(on=...)``, ``names[row["id"]]``) keep their values, so joins keep
working, except that ``case`` and ``whitespace`` vary a key the script itself cleans that way first
(``row["sku"].strip().upper()``, ``df["code"].str.upper()``), where its values repeat; other shared names (an
``amount`` in two sources) are varied like any column. A variant that the original script cannot process is
skipped, and the report says so (its changes are then tried one column at a time: :func:`column_parts`); so is one
on which the original's result depends on the order of the rows,
or its columns on the data (:mod:`rewriter.verify`). No variant writes a value pandas reads as missing (``None``, ``NA``, ...)
where the data had text: DuckDB reads it as text, and no SQL could follow.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rewriter.script import Literals
from rewriter.sources import Source, file_suffix, read_rows, write_rows

INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT"}
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    tables: dict  # source name -> (header or None, rows of strings)

    def write(self, folder: Path, sources: list[Source]) -> dict[str, Path]:
        """Write each source of this variant under ``folder``; returns source name to file."""
        files = {}
        for source in sources:
            header, rows = self.tables[source.name]
            path = folder / self.name.replace(":", "_") / f"{source.name}{file_suffix(source.path) or '.csv'}"
            write_rows(path, source, header, rows)
            files[source.name] = path
        return files


def _kind(type_name: str) -> str:
    base = type_name.upper().split("(")[0]
    if base in INTEGER_TYPES:
        return "int"
    if base in FLOAT_TYPES or base == "DECIMAL":
        return "float"
    if base == "DATE":
        return "date"
    if base.startswith("TIMESTAMP"):
        return "timestamp"
    if base == "TIME":
        return "time"
    if base == "BOOLEAN":
        return "bool"
    if base == "VARCHAR":
        return "text"
    return "other"


# what pandas' read_csv reads as missing by default: a variant that writes one (``None`` for the script's
# ``"none"``) changes the script's input in a way no SQL over DuckDB's reading of the file can follow
PANDAS_MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                            "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_INTEGER = re.compile(r"[-+]?\d+")
_GAP = re.compile(r"(?<=\S) +(?=\S)")  # the spaces between two words
FRACTIONS = ("25", "35", "675", "5")  # see _Builder.halfway: halfway at 1, 2 and 0 decimals
LOOKALIKE_FORMS = ("swap", "digit", "longer", "swap", "shorter")  # see _Builder.lookalike
NO_BREAK_SPACE = "\u00a0"
UNICODE_SPACE_FORMS = ("before", "gap", "after")  # see _Builder.unicode_spaced
_WORD = re.compile(r"[^\W\d_]+")  # letters only
_CLOCK = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _looks_like_id(name: str) -> bool:
    lowered = name.lower()
    return lowered == "id" or lowered.endswith("_id") or name.endswith(("Id", "ID"))


def _looks_like_key(name: str) -> bool:
    """An id, or a name such as ``dept_code`` or ``sku_key``: a key when two sources share it."""
    lowered = name.lower()
    return _looks_like_id(name) or lowered in ("key", "code") or lowered.endswith(("key", "code"))


def key_columns(sources: list[Source], joins: frozenset[str] | None = None) -> set[tuple[str, str]]:
    """(source, column) pairs that are join keys: names that look like ids (``id``, ``*_id``, ``*Id``), and names
    two sources share that look like keys (``*key``, ``*code``) or that the script joins or looks up by
    (``joins``, see :func:`rewriter.script.join_names`; None when it may join on names it does not spell out,
    and then every shared name counts). Sources that are parts of one union (they share more than half the columns of the
    narrower one) share no keys, except names the script joins by (``merge(plans, on="plan_code")`` where
    ``plans(plan_code, name, price)`` also shares ``name``); a two-column lookup such as ``customer, segment``
    still has its key. A shared measure (``amount`` in orders and in refunds) is no key, so variants put
    boundary values into it."""
    columns = {s.name: {n.lower() for n in s.format.names} for s in sources}
    joined = None if joins is None else {n.lower() for n in joins}
    shared: set[str] = set()
    for a in sources:
        for b in sources:
            if a.name < b.name:
                common = columns[a.name] & columns[b.name]
                if len(common) <= min(len(columns[a.name]), len(columns[b.name])) / 2:
                    shared |= common
                elif joined is not None:  # like parts of one union, but merged on a name the script spells
                    shared |= common & joined  # out: plans(plan_code, name, price) beside signups' name
    return {(source.name, name) for source in sources for name in source.format.names
            if _looks_like_id(name) or (name.lower() in shared
                                        and (joined is None or name.lower() in joined or _looks_like_key(name)))}


def _has_offset(type_name: str) -> bool:
    """Whether DuckDB reads the column as TIMESTAMP WITH TIME ZONE: its values carry a UTC offset."""
    upper = type_name.upper()
    return "WITH TIME ZONE" in upper or upper.startswith("TIMESTAMPTZ")


_OFFSET = re.compile(r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$")


def _zero_offset_like(values: list[str]) -> str:
    """Offset zero, spelled like the first offset among ``values`` (``+00:00``, ``+0000``, ``+00`` or ``Z``), so
    that a script parsing the column with a fixed format (``strptime(..., '%Y-%m-%dT%H:%M:%S%z')``) still can.

    Example:
        >>> _zero_offset_like(["", "2024-03-31T23:10:00+0200"]), _zero_offset_like(["2024-01-01 10:00:00Z"])
        ('+0000', 'Z')
    """
    for value in values:
        match = _OFFSET.search(value.strip())
        if match:
            return "Z" if match.group(0) == "Z" else "+" + re.sub("[0-9]", "0", match.group(0)[1:])
    return "+00:00"


_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([T ])\d{2}:\d{2}(:\d{2})?(\.\d+)?")


def _iso_timestamp_like(values: list[str]) -> str:
    """An ISO format for timestamps spelled like the first ISO timestamp among ``values``: ``T`` or a space
    between date and time, with or without seconds and fractions of one. A script parsing the column with a
    fixed format (``strptime(s, "%Y-%m-%dT%H:%M:%S")``) fails on any other spelling, and the variant is lost.

    Example:
        >>> _iso_timestamp_like(["2024-05-01T12:33:50"]), _iso_timestamp_like(["2024-05-01 12:33"])
        ('%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M')
        >>> _iso_timestamp_like(["2024-05-01T12:33:50.250+02:00"]), _iso_timestamp_like([])
        ('%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%d %H:%M:%S')
    """
    for value in values:
        match = _ISO_TIMESTAMP.match(value.strip())
        if match:
            return f"%Y-%m-%d{match.group(1)}%H:%M{':%S' if match.group(2) else ''}{'.%f' if match.group(3) else ''}"
    return "%Y-%m-%d %H:%M:%S"


def _format_number(value: float, kind: str) -> str:
    if kind == "int":
        return str(int(value))
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _strptime(text: str, fmt: str) -> dt.datetime | None:
    try:  # strptime reads 3/1/2024 with %m/%d and knows no %-m (see _spelled_like)
        return dt.datetime.strptime(text, fmt.replace("%-", "%"))
    except ValueError:
        return None


def _parse_date(text: str, fmt: str) -> dt.datetime | None:
    """``text`` read with ``fmt``, else as ISO 8601."""
    parsed = _strptime(text.strip(), fmt)
    if parsed is not None:
        return parsed
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None


UNPADDED = ("%d", "%m", "%H", "%I")  # what a column may write without its leading zero (5:50, 3/1/2024)


def _spelled_like(fmt: str, values: list[str]) -> str:
    """``fmt``, or the same without leading zeros in the fields the column writes without them (``%-H:%M`` for
    ``5:50``, ``%-m/%-d/%Y`` for ``3/1/2024``), so generated values are spelled as the real ones: a script that
    uses the text as written (a csv loop, a ``groupby`` of the raw column) would otherwise see ``03/01/2024``
    beside ``3/1/2024`` where the SQL, which reads a DATE, sees one day.

    Example:
        >>> _spelled_like("%m/%d/%Y", ["3/1/2024", "12/11/2024"]), _spelled_like("%H:%M", ["05:50", "17:05"])
        ('%-m/%-d/%Y', '%H:%M')
        >>> _spelled_like("%m/%d/%Y", ["3/13/2024"]), _spelled_like("%m/%d/%Y", ["03/13/2024"])
        ('%-m/%-d/%Y', '%m/%d/%Y')
    """
    fields = [f for f in UNPADDED if f in fmt]
    moments = [(value, moment) for value in values if (moment := _strptime(value, fmt)) is not None]
    counts: dict[str, int] = {}
    for mask in range(2 ** len(fields)):
        candidate = fmt
        for position, field in enumerate(fields):
            if mask >> position & 1:
                candidate = candidate.replace(field, "%-" + field[1])
        counts[candidate] = sum(moment.strftime(candidate) == value for value, moment in moments)
    best = [candidate for candidate, count in counts.items() if count == max(counts.values())]
    # a field the data never shows with one digit (days 13-21) follows the others: unpadded beside 3/13/2024
    return fmt if fmt in best else max(best, key=lambda candidate: candidate.count("%-"))


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    """A timestamp with an offset as the same instant in UTC without one (written with offset zero)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _time_of_day(text: str) -> dt.time | None:
    """``18:00`` or ``18:00:30`` as a time of day, else None."""
    if not _CLOCK.fullmatch(text.strip()):
        return None
    try:
        return dt.time(*map(int, text.strip().split(":")))
    except ValueError:
        return None


def _with_fraction(current: str, fraction: str) -> str | None:
    """``current`` (a number as written) with the fractional part ``fraction``; None for anything else."""
    text = current.strip()
    if not _NUMBER.fullmatch(text) or "e" in text.lower():
        return None
    whole = text.split(".")[0]  # "-.4": a sign without digits
    return f"{whole if whole not in ('', '+', '-') else whole + '0'}.{fraction}"


class _Builder:
    def __init__(self, sources: list[Source], literals: Literals, seed: int):
        self.sources = sources
        self.literals = literals
        self.seed = seed
        self.base = {s.name: read_rows(s) for s in sources}
        self.keys = key_columns(sources, literals.joins)
        self.column_names = {n.lower() for s in sources for n in s.format.names}  # constants naming them are no values
        self.tabbed: set[tuple[str, str]] = set()  # columns the whitespace variant has given a tab
        self.turns: dict[tuple[str, str, str], int] = {}  # cells a variant has changed so far, per column

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def turn(self, variant: str, source: Source, column: str) -> int:
        """How many cells of ``column`` ``variant`` has changed before this one: forms that take turns."""
        key = (variant, source.name, column)
        self.turns[key] = self.turns.get(key, -1) + 1
        return self.turns[key]

    def columns(self, source: Source, kinds: set[str],
                cleaned: frozenset = frozenset()) -> list[tuple[int, str, str]]:
        """Columns of ``kinds`` to vary: not the keys, except a key the script cleans (``cleaned``, names in
        lower case) where its values repeat: the side that looks its partner up (``row["sku"].strip()``
        against a dict of products by sku), so that the variant tests the cleaning and the lookups still work
        (varied on the dict's side, the script's own lookups would fail and the variant be skipped)."""
        kinds_of = [(i, name, self.kind(source, i, t)) for i, (name, t) in enumerate(source.format.columns)]
        return [(i, name, kind) for i, name, kind in kinds_of
                if kind in kinds and ((source.name, name) not in self.keys
                                      or (name.lower() in cleaned and self.repeating(source, i)))]

    def kind(self, source: Source, index: int, type_name: str) -> str:
        """The column's kind; a text column whose values are mostly numbers (``n/a`` or ``?`` among integers,
        which makes DuckDB read it as VARCHAR) counts as numbers, so its numbers get signs and boundaries too."""
        kind = _kind(type_name)
        if kind != "text":
            return kind
        values = [r[index].strip() for r in self.base[source.name][1] if index < len(r) and r[index].strip()]
        numbers = [v for v in values if _NUMBER.fullmatch(v)]
        if not values or len(numbers) * 5 < len(values) * 4:
            return kind
        return "int" if all(_INTEGER.fullmatch(v) for v in numbers) else "float"

    def repeating(self, source: Source, index: int) -> bool:
        """Whether a value of column ``index`` occurs in more than one row of ``source``."""
        values = [r[index].strip() for r in self.base[source.name][1] if index < len(r) and r[index].strip()]
        return len(set(values)) < len(values)

    def rows_filtered(self, name: str, keep, thinned=lambda source: True) -> dict:
        """The rows ``keep`` keeps; a ``thinned`` source with two or more rows loses at least one (a small
        table could otherwise keep every row, and the variant would test nothing)."""
        tables = {}
        for source in self.sources:
            header, rows = self.base[source.name]
            rng = self.rng(f"{name}:{source.name}")
            chosen = [r for r in rows if keep(source, rng)]
            if rows and not chosen:
                chosen = [rows[0]]
            if len(chosen) == len(rows) > 1 and thinned(source):
                chosen.pop(rng.randrange(len(chosen)))
            tables[source.name] = (header, chosen)
        return tables

    def orphans(self, orphaned: Source) -> dict:
        """40% of ``orphaned``'s rows removed (other sources keep theirs), at least one of them a row with a join
        partner: removing only rows nothing refers to (a customer without orders) orphans no row, and an inner
        join where the script keeps unmatched rows would pass."""
        name = f"orphans:{orphaned.name}"
        tables = self.rows_filtered(name, lambda s, rng: s.name != orphaned.name or rng.random() >= 0.4,
                                    lambda s: s.name == orphaned.name)
        header, kept = tables[orphaned.name]
        rows = self.base[orphaned.name][1]
        tables[orphaned.name] = (header, self.partner_removed(orphaned, rows, kept, self.rng(f"{name}:partner")))
        return tables

    def partner_removed(self, source: Source, rows: list[list[str]], kept: list[list[str]],
                        rng: random.Random) -> list[list[str]]:
        """``kept`` (a selection of ``rows``), changed so that a row with a join partner is among the removed
        ones: one such kept row leaves, and if it was the last one kept a removed row without partner takes its
        place. Unchanged when a removed row has a partner already, or no row has one."""
        has_partner = self.partnered(source)
        kept_ids = {id(row) for row in kept}
        removed = [row for row in rows if id(row) not in kept_ids]
        candidates = [row for row in kept if has_partner(row)]
        if any(has_partner(row) for row in removed) or not candidates:
            return kept
        leaving = rng.choice(candidates)
        rest = [row for row in kept if row is not leaving]
        if rest:
            return rest
        return [rng.choice(removed)] if removed else kept

    def partnered(self, source: Source) -> Callable[[list[str]], bool]:
        """A test whether a row of ``source`` has a join partner: a value of one of its key columns (see
        :func:`key_columns`) occurs in a key column of the same name in another source; where the source
        shares no key name with the others (``customers.id`` against ``orders.customer_id``), in any key
        column of another source."""
        own = {name.lower(): index for index, name in enumerate(source.format.names)
               if (source.name, name) in self.keys}
        others = [(other, name) for other in self.sources if other.name != source.name
                  for name in other.format.names if (other.name, name) in self.keys]
        shared = [(other, name) for other, name in others if name.lower() in own]
        values = {key: set() for key in own}
        for other, name in shared or others:
            column = other.format.names.index(name)
            found = {r[column].strip() for r in self.base[other.name][1] if column < len(r) and r[column].strip()}
            for key in ([name.lower()] if shared else own):
                values[key] |= found

        def has_partner(row: list[str]) -> bool:
            return any(index < len(row) and row[index].strip() in values[key] for key, index in own.items())
        return has_partner

    def cells_changed(self, name: str, kinds: set[str], fraction: float, value, filled_only: bool = False,
                      cleaned: frozenset = frozenset()) -> dict:
        """Cells of the columns of ``kinds`` replaced by ``value(...)`` in about ``fraction`` of the rows, at
        least one per column; with ``filled_only`` only cells that hold something (emptying an empty cell
        changes nothing)."""
        tables = {}
        for source in self.sources:
            header, rows = self.base[source.name]
            rng = self.rng(f"{name}:{source.name}")
            columns = self.columns(source, kinds, cleaned)
            changed = [list(row) for row in rows]
            for index, column, kind in columns:
                candidates = [r for r in changed if index < len(r) and (not filled_only or r[index].strip())]
                chosen = [r for r in candidates if rng.random() < fraction]
                changed_any = False
                for row in chosen:
                    new = value(source, column, kind, row[index], rng)
                    if new is not None:
                        row[index], changed_any = new, True
                if not changed_any:  # small tables: at least one row per column, one the value applies to
                    for row in rng.sample(candidates, len(candidates)):
                        new = value(source, column, kind, row[index], rng)
                        if new is not None:
                            row[index] = new
                            break
            tables[source.name] = (header, changed)
        return tables

    def empty_keys(self) -> dict | None:
        """Empty cells in the key columns of the largest source whose values repeat there (a guest order's
        ``customer_id``, not the table's own ``id``): ``groupby`` and comparisons in pandas drop such rows,
        where SQL keeps a NULL group or needs ``IS NOT NULL``. Where no key repeats anywhere, the keys of the
        largest source with keys (an order without ``order_id``, which ``merge(indicator=True)`` still marks as
        the left side's, and ``order_id IS NULL`` reads as the other side's). One source only: pandas'
        ``merge`` pairs empty keys of both sides with each other, which no SQL join does. None when no column
        qualifies."""
        found = self.repeating_keys or self.largest_keys
        if found is not None:
            source, columns = found
            tables = {s.name: self.base[s.name] for s in self.sources}
            header, rows = self.base[source.name]
            rng = self.rng(f"empty_keys:{source.name}")
            changed = [list(r) for r in rows]
            for index in columns:
                candidates = [r for r in changed if index < len(r) and r[index].strip()]
                chosen = [r for r in candidates if rng.random() < 0.2] or candidates[:1]
                for row in chosen:
                    row[index] = ""
            tables[source.name] = (header, changed)
            return tables
        return None

    @functools.cached_property
    def repeating_keys(self) -> tuple[Source, list[int]] | None:
        """The largest source with key columns whose values repeat there, and those columns."""
        for source in sorted(self.sources, key=lambda s: -len(self.base[s.name][1])):
            columns = [i for i, name in enumerate(source.format.names)
                       if (source.name, name) in self.keys and self.repeating(source, i)]
            if columns:
                return source, columns
        return None

    @functools.cached_property
    def largest_keys(self) -> tuple[Source, list[int]] | None:
        """The largest source with key columns, and those columns (when none repeats: see empty_keys)."""
        for source in sorted(self.sources, key=lambda s: -len(self.base[s.name][1])):
            columns = [i for i, name in enumerate(source.format.names) if (source.name, name) in self.keys]
            if columns:
                return source, columns
        return None

    def empty_lookup_keys(self) -> dict | None:
        """One empty cell in each key column of the smallest other source with key columns (a block list of
        product ids with a blank line): ``x NOT IN (SELECT product_id FROM recalls)`` is then NULL for every
        row, where Python's ``in`` on a set of the ids, or pandas' ``isin``, just holds one more value. Not
        the source ``empty_keys`` empties (pandas' ``merge`` pairs empty keys of both sides); None with one
        source."""
        if len(self.sources) < 2:
            return None
        repeating = self.repeating_keys
        others = [s for s in self.sources if repeating is None or s.name != repeating[0].name]
        for source in sorted(others, key=lambda s: len(self.base[s.name][1])):
            columns = [i for i, name in enumerate(source.format.names) if (source.name, name) in self.keys]
            header, rows = self.base[source.name]
            changed = [list(r) for r in rows]
            rng = self.rng(f"empty_lookup_keys:{source.name}")
            emptied = False
            for index in columns:
                filled = [r for r in changed if index < len(r) and r[index].strip()]
                if filled:
                    rng.choice(filled)[index] = ""
                    emptied = True
            if emptied:
                tables = {s.name: self.base[s.name] for s in self.sources}
                tables[source.name] = (header, changed)
                return tables
        return None

    def cleaned_keys(self) -> dict | None:
        """A key the script cleans itself (``.str.strip().str.lower()`` of an e-mail), spaced and re-cased in the
        sources where its values do not repeat: the ``case`` and ``whitespace`` variants vary only the side that
        looks up (varied on the other side, a script that cleans only its own side fails, and the whole variant
        would be lost), so a rewrite cleaning that side only would pass. A variant of its own: where the
        script cleans both sides it tests the second; where not, it is skipped. None when no such column."""
        stripped = {n.lower() for n in self.literals.stripped}
        cased = {n.lower() for n in self.literals.cased}
        tables = {s.name: self.base[s.name] for s in self.sources}
        changed_any = False
        for source in self.sources:
            columns = [(i, name.lower()) for i, name in enumerate(source.format.names)
                       if (source.name, name) in self.keys and name.lower() in stripped | cased
                       and not self.repeating(source, i)]
            if not columns:
                continue
            header, rows = self.base[source.name]
            rng = self.rng(f"cleaned_keys:{source.name}")
            changed = [list(r) for r in rows]
            for index, name in columns:
                filled = [r for r in changed if index < len(r) and r[index].strip()]
                for row in [r for r in filled if rng.random() < 0.5] or filled[:1]:
                    value = row[index].swapcase() if name in cased else row[index]
                    row[index] = rng.choice([" {}", "{}\t", "\t{} "]).format(value) if name in stripped else value
                    changed_any = True
            tables[source.name] = (header, changed)
        return tables if changed_any else None

    def date_formats(self) -> dict | None:
        """Dates written as text (a column DuckDB reads as VARCHAR) rewritten, in turn, in each date format the
        script knows (``strptime`` with ``"%Y-%m-%d"``, ``"%d/%m/%Y"`` and ``"%b %d %Y"``, tried in a loop): a
        rewrite that parses only the formats the real data happens to hold drops the other rows. None when no
        text column holds a date in one of the script's formats, or the script knows only one format."""
        formats = sorted(self.literals.date_formats)
        if len(formats) < 2:
            return None
        tables, changed_any = {}, False
        for source in self.sources:
            header, rows = self.base[source.name]
            changed = [list(row) for row in rows]
            for index, column, kind in self.columns(source, {"text"}):
                turn = 0
                for row in changed:
                    if index >= len(row) or not row[index].strip():
                        continue
                    day = next((parsed for fmt in formats
                                if (parsed := _strptime(row[index].strip(), fmt)) is not None), None)
                    if day is None:
                        continue
                    row[index] = day.strftime(formats[turn % len(formats)])
                    turn += 1
                    changed_any = True
            tables[source.name] = (header, changed)
        return tables if changed_any else None

    def empty_group_numbers(self) -> dict | None:
        """Every number cell empty in the rows of one value of a repeating key or of a column the script groups
        by (all of a customer's order amounts missing): pandas' ``sum()`` of such a group is 0 and ``mean()``
        NaN, SQL's ``SUM`` NULL, so a rewrite needs ``COALESCE(SUM(..), 0)`` where the script sums; yes/no
        (BOOLEAN) cells too (``any()`` of such a group is False, ``bool_or`` NULL). The largest source with such
        a column and a number or yes/no column that is no key; None when there is none."""
        sources = sorted(self.sources, key=lambda s: -len(self.base[s.name][1]))
        grouped = {name.lower() for name in self.literals.groups}
        for source in sources:
            keys = [i for i, name in enumerate(source.format.names)
                    if ((source.name, name) in self.keys or name.lower() in grouped) and self.repeating(source, i)]
            numbers = [index for index, _, _ in self.columns(source, {"int", "float", "bool"}) if index not in keys]
            if not keys or not numbers:
                continue
            header, rows = self.base[source.name]
            key = min(keys, key=lambda i: source.format.names[i].lower() not in grouped)  # what it groups by first
            counts: dict[str, int] = {}
            for row in rows:
                if key < len(row) and row[key].strip():
                    counts[row[key].strip()] = counts.get(row[key].strip(), 0) + 1
            repeated = sorted(value for value, count in counts.items() if count > 1)
            chosen = self.rng(f"empty_group_numbers:{source.name}").choice(repeated)
            changed = [list(r) for r in rows]
            for row in changed:
                if key < len(row) and row[key].strip() == chosen:
                    for index in numbers:
                        if index < len(row):
                            row[index] = ""
            tables = {s.name: self.base[s.name] for s in self.sources}
            tables[source.name] = (header, changed)
            return tables
        return None

    # -- value generators --------------------------------------------------------------------------------------
    def boundary_values(self, source: Source, column: str, kind: str) -> list[str]:
        """The script's constants, then one step either side, then zero, formatted for this column (in that
        order: a table with fewer rows than values holds the first ones). For dates: the script's days, in a
        timestamp column then noon of each (a time inside the day, which a cast to DATE treats like its
        midnight) and, where the script converts time zones, 22:30 and 23:30 before each day and 00:30 and 06:00
        on it (in UTC another day than in Berlin or New York), then the days either side and the second before
        each day."""
        if kind in ("int", "float"):
            exact, beside = set(), set()
            for number in self.literals.numbers:
                step = 1 if kind == "int" or float(number).is_integer() else 0.01
                exact.add(number)
                beside |= {number - step, number + step}
            ordered = [*sorted(exact), *sorted(beside - exact), *([0] if 0 not in exact | beside else [])]
            if kind == "int":
                ordered = [int(c) for c in ordered if float(c).is_integer()]
            return list(dict.fromkeys(_format_number(c, kind) for c in ordered))
        if kind == "timestamp" and self.local_offsets(source, column):
            return []
        fmt = self.written_format(source, column, kind)
        days = sorted(v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time(0))
                      for v in self.literals.dates)
        # %W against ISO's %V: only the first and last days of a year differ; before any fallback (a small table
        # holds the first values only)
        edges = self.year_edges(source, column, fmt) if self.literals.calendar_weeks else []
        days = list(dict.fromkeys([*days, *edges] if days else [*edges, *self.month_boundaries(source, column, fmt)]))
        noons = [d + dt.timedelta(hours=12) for d in days] if kind == "timestamp" else []
        if kind == "timestamp" and self.literals.time_zones:  # another day east of UTC (23:30, 22:30) or west
            shifts = [dt.timedelta(minutes=m) for m in (-30, 360, -90, 30)]  # (06:00, 00:30): each day with two
            noons = [d + s for s in shifts[2:] for d in days] + noons  # of them first, as a small table holds
            days = [moment for d in days for moment in (d, d + shifts[0], d + shifts[1])]  # only the first
        beside = set()
        if self.literals.dates:
            for day in days:
                beside |= {day - dt.timedelta(days=1), day + dt.timedelta(days=1)}
                if kind == "timestamp":
                    beside.add(day - dt.timedelta(seconds=1))
        ordered = [*days, *noons, *sorted(beside - set(days) - set(noons))]
        return list(dict.fromkeys(d.strftime(fmt) for d in ordered))

    def boundary_times(self, source: Source, column: str, kind: str) -> list[str]:
        """For a column DuckDB reads as TIME (``08:15``): the script's times of day written as text
        (``df["started"] < "18:00"``) and its whole numbers below 24 as hours (``.dt.hour >= 18``, ``time(18, 0)``:
        18:00), else midnight and noon, each with the minute before and after, written as the column writes its
        times (with seconds or without)."""
        values = self.values(source, column)
        fmt = _spelled_like("%H:%M:%S" if values and all(v.count(":") == 2 for v in values) else "%H:%M", values)
        moments = sorted({t for text in self.literals.strings if (t := _time_of_day(text)) is not None}
                         | {dt.time(int(n)) for n in self.literals.numbers if float(n).is_integer() and 0 < n < 24})
        moments = moments or [dt.time(0), dt.time(12)]
        day = dt.date(2000, 1, 2)
        exact = [dt.datetime.combine(day, m) for m in moments]
        beside = {t + dt.timedelta(minutes=step) for t in exact for step in (-1, 1)}
        return list(dict.fromkeys(t.strftime(fmt) for t in [*exact, *sorted(beside - set(exact))]))

    def written_format(self, source: Source, column: str, kind: str) -> str:
        """The format generated dates or timestamps of ``column`` are written in: the one DuckDB sniffed, else
        ISO; timestamps with a UTC offset written with offset zero (:meth:`format_with_offset`)."""
        sniffed = source.format.dateformat if kind == "date" else source.format.timestampformat
        fmt = sniffed or ("%Y-%m-%d" if kind == "date" else _iso_timestamp_like(self.values(source, column)))
        if _has_offset(source.format.types[column]):
            fmt = self.format_with_offset(source, column, sniffed)
        return _spelled_like(fmt, self.values(source, column))

    @functools.lru_cache(maxsize=None)  # noqa: B019 (one builder per call of variants())
    def values(self, source: Source, column: str) -> list[str]:
        """The first 50 filled cells of the column, as written (without surrounding spaces)."""
        index = source.format.names.index(column)
        return [r[index].strip() for r in self.base[source.name][1][:50] if index < len(r) and r[index].strip()]

    def local_offsets(self, source: Source, column: str) -> bool:
        """Whether the column's timestamps carry an offset other than zero (``+01:00``, local times): a script
        may read their local time as written (``datetime.fromisoformat(s).hour``), which a value generated
        with offset zero would change where the SQL (``timezone('Europe/Berlin', ..)``) does not, so the
        timestamp variants leave such a column as it is."""
        if not _has_offset(source.format.types[column]):
            return False
        return any((match := _OFFSET.search(v)) and match.group(0) != "Z" and match.group(0).strip("+-0:")
                   for v in self.values(source, column))

    def gaps(self) -> dict | None:
        """The timestamps of each column, in time order, set the script's durations apart (``diff() >
        pd.Timedelta(minutes=30)`` then meets events exactly 30 minutes apart, where a rewrite with ``>=``
        differs; whole days also in date columns). Each row keeps its place in time order, so rows of one key
        that were neighbours stay neighbours. None when the script writes no duration."""
        durations = sorted(self.literals.durations)
        if not durations:
            return None
        tables, changed_any = {}, False
        for source in self.sources:
            header, rows = self.base[source.name]
            changed = [list(row) for row in rows]
            for index, column, kind in self.columns(source, {"timestamp", "date"}):
                steps = [d for d in durations if kind == "timestamp" or d % dt.timedelta(days=1) == dt.timedelta(0)]
                if not steps or kind == "timestamp" and self.local_offsets(source, column):
                    continue
                fmt = self.written_format(source, column, kind)
                timed = [(moment, row) for row in changed if index < len(row) and row[index].strip()
                         and (moment := _parse_date(row[index], fmt)) is not None]
                if len(timed) < 2:
                    continue
                timed = [(_naive_utc(moment), row) for moment, row in timed]
                timed.sort(key=lambda item: item[0])  # stable: rows at one time keep their file order
                moment = timed[0][0]
                for position, (_, row) in enumerate(timed):
                    if position:
                        moment += steps[(position - 1) % len(steps)]
                    row[index] = moment.strftime(fmt)
                changed_any = True
            tables[source.name] = (header, changed)
        return tables if changed_any else None

    def format_with_offset(self, source: Source, column: str, sniffed: str | None) -> str:
        """The format for boundary timestamps in a column whose values carry a UTC offset: the values are
        written with offset zero. Without one, pandas (``utc=True``) reads a value as UTC and DuckDB's
        TIMESTAMPTZ in the session's time zone, and the script and the SQL would see other instants."""
        values = self.values(source, column)
        offset = _zero_offset_like(values)
        if sniffed and "%z" in sniffed:
            return sniffed.replace("%z", offset)
        if sniffed:
            return sniffed + offset
        return _iso_timestamp_like(values) + offset

    def month_boundaries(self, source: Source, column: str, fmt: str) -> list[dt.datetime]:
        """With no date in the script: the first of the month and the day before, around the observed values."""
        days = set()
        for value in self.values(source, column):
            parsed = _parse_date(value, fmt)
            if parsed is not None:
                start = parsed.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
                days |= {start, start - dt.timedelta(days=1)}
        return sorted(days)

    def year_edges(self, source: Source, column: str, fmt: str) -> list[dt.datetime]:
        """The last four and first four days of each year the column's values fall in (and of the next year):
        the days where week numbers of different conventions (``%W``, ``%U``, ISO's ``%V``) disagree."""
        index = source.format.names.index(column)
        years = set()
        for row in self.base[source.name][1][:200]:
            parsed = _parse_date(row[index], fmt) if index < len(row) else None
            if parsed is not None:
                years |= {parsed.year, parsed.year + 1}
        return [dt.datetime(year, month, day) for year in sorted(years) if 1 < year < 9999
                for month, day in ((12, 28), (12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3), (1, 4))]

    def string_constants(self, source: Source, column: str, kind: str) -> list[str]:
        """The script's string constants as written, in a column of words: those that name no column first
        (``isin(["shipped", "delivered"])``), then the rest. The ``case`` variant puts a constant in a few
        cells and in another case; a filter that keeps one of several spellings needs each one verbatim. A
        constant with a dot also comes with an ``x`` for it: ``Incx`` tells a regular expression (pandas'
        ``str.contains("Inc.")``) from a plain substring test; one with ``_`` or ``%`` with an ``x`` for those:
        ``EUx1`` tells ``LIKE 'EU_%'`` (where ``_`` is any character) from ``startswith("EU_")``. Never a
        value pandas reads as missing (``None``, ``NA``)."""
        if not self.textual(source, column):
            return []
        names = self.column_names
        values = []
        for constant in sorted(self.literals.strings, key=lambda value: (value.lower() in names, value)):
            values.append(constant)
            if constant.lower() not in names:  # right after it: a small table holds both
                for wildcard in (".", "_", "%"):  # a regular expression's dot, LIKE's _ and % match the x
                    if wildcard in constant:
                        values.append(constant.replace(wildcard, "x"))
        return [v for v in dict.fromkeys(values) if v not in PANDAS_MISSING]

    def empty_beside_constants(self) -> dict:
        """The script's string constants in columns of words (as ``string_constants`` writes them), and about a
        quarter of the other filled cells of those columns empty: a script that fills empty cells with one of
        its constants (``fillna({"region": "Unknown"})``) then treats both alike, where SQL keeps NULL apart from
        a real ``'Unknown'`` unless it coalesces before it groups or compares. In a small table where every
        row holds a constant, a cell holding a constant that another row holds too is emptied."""
        name = "empty_and_constants"
        tables = self.boundaries(name, {"text"}, self.string_constants)
        for source in self.sources:
            rows = tables[source.name][1]
            rng = self.rng(f"{name}:{source.name}:empty")
            for index, column, kind in self.columns(source, {"text"}):
                constants = set(self.string_constants(source, column, kind))
                if not constants:
                    continue
                cells = [r for r in rows if index < len(r)]
                others = [r for r in cells if r[index].strip() and r[index] not in constants]
                if not others:
                    held = [r[index] for r in cells]
                    others = [r for r in cells if held.count(r[index]) > 1]
                for row in [r for r in others if rng.random() < 0.25] or others[:1]:
                    row[index] = ""
        return tables

    def boundaries(self, name: str, kinds: set[str], values_of=None) -> dict:
        """Boundary values in the columns of ``kinds``: each value in at least one row (random rows, while
        the table has rows enough), then about half of the other rows get them in turn."""
        values_of = values_of or self.boundary_values
        tables = {}
        for source in self.sources:
            header, rows = self.base[source.name]
            rng = self.rng(f"{name}:{source.name}")
            changed = [list(r) for r in rows]
            for index, column, kind in self.columns(source, kinds):
                values = values_of(source, column, kind)
                if not values:
                    continue
                holding = [row for row in changed if index < len(row)]
                rng.shuffle(holding)
                for row, value in zip(holding, values):  # every value at least once
                    row[index] = value
                position = rng.randrange(len(values))
                for row in holding[len(values):]:
                    if rng.random() < 0.5:
                        row[index] = values[position % len(values)]
                        position += 1
            tables[source.name] = (header, changed)
        return tables

    @functools.lru_cache(maxsize=None)  # noqa: B019 (one builder per call of variants())
    def wordy(self, source: Source, column: str) -> bool:
        """Whether most of the column's non-empty values contain a letter: text, not numbers or dates that
        DuckDB reads as VARCHAR because of a marker such as ``?``, a decimal comma or an unusual date format."""
        index = source.format.names.index(column)
        values = [r[index] for r in self.base[source.name][1] if index < len(r) and r[index].strip()]
        return sum(any(c.isalpha() for c in v) for v in values) * 2 >= len(values) > 0

    def textual(self, source: Source, column: str) -> bool:
        """Whether the script treats the column as text: a column of words, or a text column it cleans itself
        (``r["taxable"].strip().lower() in ("yes", "1")`` over a flag written 1/0 by one system and yes/no by
        another, mostly digits) or reads with a regular expression or a string method (a phone number:
        ``re.sub(r"[^0-9+]", "", row["phone"])``), so spaces, blanks and the script's constants belong in it."""
        cleaned = {n.lower() for n in self.literals.stripped | self.literals.cased | self.literals.texts}
        return self.wordy(source, column) or (column.lower() in cleaned
                                               and _kind(source.format.types[column]) == "text")

    def recased(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str:
        """The value in another case; in text columns sometimes one of the script's string constants instead
        (never in a column of numbers or dates, which the script would then read as text or fail on)."""
        constant = rng.random() < 0.3 and (source.name, column) not in self.keys  # a key keeps its values, re-cased
        wordy = constant and self.wordy(source, column)
        candidates = sorted({current, *self.literals.strings}) if wordy else [current]
        text = rng.choice(candidates)
        recased = rng.choice([str.upper, str.lower, str.title, str.swapcase])(text)
        return text if recased in PANDAS_MISSING and text not in PANDAS_MISSING else recased

    def recased_constants(self, source: Source, column: str, kind: str) -> list[str]:
        """The script's string constants that name no column, each in a case other than written, for a column
        of words: ``lower(status) = 'cancelled'`` needs a ``Cancelled`` in the data to tell it from
        ``status = 'cancelled'`` (the case variant re-cases the column's own values and only sometimes
        writes a constant)."""
        found = []
        for constant in self.string_constants(source, column, kind):
            if constant.lower() in self.column_names:
                continue
            other = next((f(constant) for f in (str.title, str.upper, str.lower)
                          if f(constant) != constant and f(constant) not in PANDAS_MISSING), None)
            if other is not None:
                found.append(other)
        return found

    def padded(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The text with spaces or a tab before, after or around it (what a hand-typed export holds), or two
        spaces between every two words, in columns of words or text columns the script cleans itself
        (:meth:`textual`): a number or date read as text because of a marker stays as written. DuckDB's
        ``trim`` removes spaces only, Python's ``strip`` tabs too. The first change in each column puts a tab
        and two spaces between the words (``regexp_replace(x, '\\s+', ' ')`` without the ``'g'`` option mends
        the tab only)."""
        if not self.textual(source, column):
            return None
        tabs = ["{}\t", "\t{}"] if source.format.delimiter != "\t" else []
        shapes = [" {}", "{} ", "  {}  "] + tabs
        if re.search(r"\S \S", current):  # two spaces between words: split(" ") and split() differ there
            shapes.append("words")
        shape = rng.choice(shapes)
        if tabs and (source.name, column) not in self.tabbed:  # a tab in every such column: trim() keeps it
            self.tabbed.add((source.name, column))  # and its gaps doubled: a regexp_replace(.., '\\s+', ' ')
            return rng.choice(tabs).format(_GAP.sub("  ", current))  # without 'g' mends the tab
        return _GAP.sub("  ", current) if shape == "words" else shape.format(current)

    @functools.lru_cache(maxsize=None)  # noqa: B019 (one builder per call of variants())
    def json_column(self, source: Source, column: str) -> bool:
        """Whether most of the column's non-empty values are JSON objects or arrays (an event's payload)."""
        index = source.format.names.index(column)
        values = [r[index] for r in self.base[source.name][1] if index < len(r) and r[index].strip()]
        return sum(_json_document(v) is not None for v in values) * 2 >= len(values) > 0

    def json_text(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """A JSON document with its text values in other case, or with spaces or a tab around them (``" U3 "``):
        no other variant reaches inside a document, and one that breaks it is skipped by the script."""
        document = _json_document(current) if self.json_column(source, column) else None
        if document is None:
            return None

        def varied(value):
            if isinstance(value, dict):
                return {k: varied(v) for k, v in value.items()}
            if isinstance(value, list):
                return [varied(v) for v in value]
            if isinstance(value, str) and any(c.isalpha() for c in value):
                return rng.choice([str.upper, str.lower, str.swapcase, " {} ".format, "\t{}".format])(value)
            return value
        out = json.dumps(varied(document), ensure_ascii=False)
        return out if out != current else None

    def json_nulls(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """A JSON object with one of its keys left out (a number sometimes null instead), or an array emptied:
        ``.get("user", "anonymous")``, ``.get(k) or 0`` and ``len(.get("items", []))`` against a ``json_extract``
        without ``coalesce``."""
        document = _json_document(current) if self.json_column(source, column) else None
        if not document:
            return None
        if isinstance(document, list):
            return "[]"
        key = rng.choice(sorted(document))
        if isinstance(document[key], list) and document[key]:
            document[key] = []
        elif isinstance(document[key], (int, float)) and not isinstance(document[key], bool) and rng.random() < 0.5:
            document[key] = None  # (a text value is left out instead: .get("user", "anonymous").strip())
        else:
            del document[key]
        return json.dumps(document, ensure_ascii=False)

    def blank(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """A cell of spaces only, in columns of words: ``row["project"].strip() or "internal"`` fills it, a
        ``coalesce`` does not. A variant of its own: a script that needs the value fails on it."""
        return "   " if self.textual(source, column) else None

    def lookalike(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The text with a letter for one of its digits (a digit for a letter where it has none), 0 for each of its
        digits (9 for a 0: outside a regular expression's ``[1-4]``), or one character more or fewer, in columns of
        words: a code the script checks by its pattern (``str.fullmatch(r"[A-Z]\\d{3}")``, ``re.match(r"^\\d{5}$",
        zip)``) tells it from a rewrite that checks only the length (``LIKE '____'``) or the first characters.
        The forms take turns in each column. Never a token pandas reads as missing (``N4`` becomes ``NB``, not
        ``NA``)."""
        if not self.wordy(source, column) or not current.strip():
            return None
        text = current
        turn = self.turn("lookalikes", source, column)
        form = LOOKALIKE_FORMS[turn % len(LOOKALIKE_FORMS)] if len(text.strip()) > 1 else "swap"  # each in turn
        digits = [i for i, c in enumerate(text) if c in "0123456789"]
        if form == "digit" and digits:  # 0 and 9 lie outside a range such as [1-4]
            changed = "".join(("9" if c == "0" else "0") if c in "0123456789" else c for c in text)
        elif form == "longer":
            last = text.rstrip()[-1]
            extra = rng.choice("0123456789") if last.isdigit() else \
                rng.choice("ABCDEFGHKMPRTX") if last.isupper() else rng.choice("abcdefghkmprtx")
            changed = text.rstrip() + extra + text[len(text.rstrip()):]
        elif form == "shorter":
            end = len(text.rstrip())
            changed = text[:end - 1] + text[end:]
        else:
            letters = [i for i, c in enumerate(text) if c.isalpha()]
            if not digits and not letters:
                return None
            at = rng.choice(digits or letters)
            if digits:
                uppercase = any(c.isupper() for c in text) or not any(c.islower() for c in text)
                replacement = rng.choice("BCEGKMPRTX" if uppercase else "bcegkmprtx")
            else:
                replacement = rng.choice("23456789")
            changed = text[:at] + replacement + text[at + 1:]
        return changed if changed not in PANDAS_MISSING and changed.strip() else None

    def unicode_spaced(self, source: Source, column: str, kind: str, current: str,
                       rng: random.Random) -> str | None:
        """The text with a no-break space (U+00A0, what spreadsheets, web forms and PDFs leave) before it, in
        place of the space between two of its words, or after it, in turn in each column (after it where it has
        one word), in columns of words or text columns the script cleans itself (:meth:`textual`): Python's
        ``strip()`` and ``split()`` take it for a space; the ``\\s`` of DuckDB's regular expressions does not
        (``[\\s\\p{Z}]`` does), nor a ``trim`` given its characters (``trim(x, ' ' || chr(9))``)."""
        if not self.textual(source, column):
            return None
        form = UNICODE_SPACE_FORMS[self.turn("unicode_spaces", source, column) % len(UNICODE_SPACE_FORMS)]
        if form == "gap" and _GAP.search(current):
            return _GAP.sub(NO_BREAK_SPACE, current, count=1)
        return NO_BREAK_SPACE + current if form == "before" else current + NO_BREAK_SPACE

    def multiworded(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The text with one more word in front, the same word in every changed cell of the column (``van Dijk,
        Jan`` beside ``van Rijn, Eva``), in columns of words: a rewrite that takes the first word where the
        script splits at a comma counts those two as one name, and one that keeps the whole value where the
        script keeps its first word counts them apart. The word is the first word of one of the column's
        values, so it is written in the column's alphabet and case."""
        if not self.wordy(source, column) or not current.strip():
            return None
        word = self.shared_word(source, column)
        return None if word is None else f"{word} {current.lstrip()}"

    @functools.lru_cache(maxsize=None)  # noqa: B019 (one builder per call of variants())
    def shared_word(self, source: Source, column: str) -> str | None:
        """A word (letters only) that begins one of the column's values, chosen once per column."""
        index = source.format.names.index(column)
        words = sorted({match.group() for r in self.base[source.name][1] if index < len(r)
                        if (match := _WORD.match(r[index].strip())) and match.group() not in PANDAS_MISSING})
        return self.rng(f"multiword:{source.name}:{column}").choice(words) if words else None

    @staticmethod
    def refractioned(source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The number with another fractional part, .5 or .7 (7.6 hours where the real data has 7.25): Python's
        ``int()`` truncates where DuckDB's cast to an integer rounds, and ``round`` and ``floor`` differ there."""
        return _with_fraction(current, rng.choice("57"))

    def halfway(self, source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The number halfway between two roundings, the fraction .25, .35, .675 or .5 in turn in each column (a
        variant of its own, in every cell: a sum or ratio of such values is halfway too only by luck, so each
        value gets one): Python's ``round(12.25, 1)`` is 12.2 (half to even), DuckDB's ``round`` 12.3, and
        pandas' ``round(1)`` of 12.35 (just below it in binary) 12.4 where DuckDB's ``round_even`` gives 12.3. A
        script that rounds a sum of such values may round it by the order it adds them in; the variant is then
        skipped as order-dependent (see :mod:`rewriter.verify`)."""
        if "." not in current:
            return None
        return _with_fraction(current, FRACTIONS[self.turn("halfway", source, column) % len(FRACTIONS)])

    def refractioned_text(self, source: Source, column: str, kind: str, current: str,
                          rng: random.Random) -> str | None:
        """A fraction in a column of whole numbers that DuckDB reads as text (``n/a`` among them), a variant of its
        own (a script that needs whole numbers fails on it): ``int("137.5")`` raises where ``try_cast('137.5' AS
        BIGINT)`` is 138. Not in an INTEGER column: the variants are read with the real data's column types, so
        DuckDB would round the fraction away where pandas keeps it."""
        if _kind(source.format.types[column]) != "text":
            return None
        return self.refractioned(source, column, kind, current, rng)

    @staticmethod
    def coarse(source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The number rounded to one significant digit, written with as many decimals as before (858.00 ->
        900.00, 37 -> 40): many rows tie, also at the top of a group with smaller values after them, where
        ``rank()`` and ``rank(method="dense")`` part (and a LIMIT cutoff meets a tie)."""
        text = current.strip()
        if not _PLAIN_NUMBER.fullmatch(text):
            return None
        value = Decimal(text)
        if not value:
            return None
        unit = Decimal(1).scaleb(value.adjusted())
        rounded = (value / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP) * unit
        decimals = len(text.split(".")[1]) if "." in text else 0
        out = f"{rounded:.{decimals}f}"
        return out if out != text else None

    @staticmethod
    def negated(source: Source, column: str, kind: str, current: str, rng: random.Random) -> str | None:
        """The number with the other sign (a refund, a correction): truncation, floor and buckets differ there.
        A marker among numbers read as text (``n/a``) stays as it is."""
        text = current.strip()
        if not _NUMBER.fullmatch(text):
            return None
        return text[1:] if text.startswith("-") else "-" + text

    def build(self) -> list[Variant]:
        found = [
            Variant("subsample", "a random 60% of each source's rows",
                    self.rows_filtered("subsample", lambda s, rng: rng.random() < 0.6)),
        ]
        if len(self.sources) > 1:
            for source in self.sources:
                found.append(Variant(f"orphans:{source.name}",
                                     f"40% of {source.name}'s rows removed (other rows lose their partner)",
                                     self.orphans(source)))
        duplicated = {}
        for source in self.sources:
            header, rows = self.base[source.name]
            rng = self.rng(f"duplicates:{source.name}")
            out = []
            twice = {i for i in range(len(rows)) if rng.random() < 0.34}
            if rows and not twice:  # at least one row twice: a small table could otherwise have none
                twice = {rng.randrange(len(rows))}
            for i, row in enumerate(rows):
                out.append(row)
                if i in twice:
                    out.append(list(row))
            duplicated[source.name] = (header, out)
        found.append(Variant("duplicates", "a third of the rows appear twice", duplicated))
        found.append(Variant("boundary_numbers", "numbers set to the script's constants, one step either side, "
                                                 "and zero", self.boundaries("boundary_numbers", {"int", "float"})))
        found.append(Variant("boundary_dates", "dates set to the script's dates and the days either side",
                             self.boundaries("boundary_dates", {"date", "timestamp"})))
        found.append(Variant("case", "text in other letter case, and the script's string constants",
                             self.cells_changed("case", {"text"}, 0.4, self.recased,
                                                cleaned=frozenset(n.lower() for n in self.literals.cased))))
        found.append(Variant("string_constants", "text set to the script's string constants, as written",
                             self.boundaries("string_constants", {"text"}, self.string_constants)))
        found.append(Variant("empty_and_constants", "the script's string constants as written beside empty cells "
                                                    "in the same columns", self.empty_beside_constants()))
        found.append(Variant("recased_constants", "text set to the script's string constants in another case",
                             self.boundaries("recased_constants", {"text"}, self.recased_constants)))
        found.append(Variant("whitespace", "spaces or a tab around some text values, or two spaces between words",
                             self.cells_changed("whitespace", {"text"}, 0.3, self.padded, filled_only=True,
                                                cleaned=frozenset(n.lower() for n in self.literals.stripped))))
        found.append(Variant("json_text", "text inside JSON documents in other case or with spaces or a tab around it",
                             self.cells_changed("json_text", {"text"}, 0.4, self.json_text, filled_only=True)))
        found.append(Variant("json_nulls", "a value of JSON documents null or left out, an array emptied",
                             self.cells_changed("json_nulls", {"text"}, 0.4, self.json_nulls, filled_only=True)))
        found.append(Variant("unicode_spaces", "a no-break space (U+00A0) before, inside or after some text values",
                             self.cells_changed("unicode_spaces", {"text"}, 0.3, self.unicode_spaced,
                                                filled_only=True,
                                                cleaned=frozenset(n.lower() for n in self.literals.stripped))))
        found.append(Variant("multiword", "a word that other values of the column begin with, put in front of "
                                          "some text values", self.cells_changed(
                                              "multiword", {"text"}, 0.3, self.multiworded, filled_only=True)))
        found.append(Variant("blank_text", "cells of spaces only in text columns",
                             self.cells_changed("blank_text", {"text"}, 0.3, self.blank, filled_only=True)))
        found.append(Variant("ties", "numbers rounded to one significant digit, so that many rows tie",
                             self.cells_changed("ties", {"int", "float"}, 1.0, self.coarse, filled_only=True)))
        found.append(Variant("negative_numbers", "some numbers with the other sign",
                             self.cells_changed("negative_numbers", {"int", "float"}, 0.3, self.negated,
                                                filled_only=True)))
        found.append(Variant("fractions", "some numbers with the fractional part .5 or .7",
                             self.cells_changed("fractions", {"float"}, 0.3, self.refractioned, filled_only=True)))
        found.append(Variant("halfway", "every fractional number halfway at one or two decimals (.25, .35, .675, .5)",
                             self.cells_changed("halfway", {"float"}, 1.0, self.halfway, filled_only=True)))
        found.append(Variant("integer_fractions", "some whole numbers read as text with the fractional part .5 "
                                                  "or .7",
                             self.cells_changed("integer_fractions", {"int"}, 0.3, self.refractioned_text,
                                                filled_only=True)))
        found.append(Variant("lookalikes", "text with a letter for a digit (or a digit for a letter), each digit 0, "
                                           "or one character more or fewer", self.cells_changed(
                                               "lookalikes", {"text"}, 0.3, self.lookalike, filled_only=True)))
        found.append(Variant("empty_text", "empty fields in text columns",
                             self.cells_changed("empty_text", {"text"}, 0.25, lambda *a: "", filled_only=True)))
        spaced = self.gaps()
        if spaced is not None:
            found.append(Variant("gaps", "timestamps in time order set the script's durations apart", spaced))
        found.append(Variant("boundary_times", "times of day set to the script's times and hours, and the minute "
                                               "either side", self.boundaries("boundary_times", {"time"},
                                                                               self.boundary_times)))
        found.append(Variant("empty_numbers", "empty fields in number, date, time and yes/no columns",
                             self.cells_changed("empty_numbers", {"int", "float", "date", "timestamp", "time", "bool"},
                                                0.2,
                                                lambda *a: "", filled_only=True)))
        reformatted = self.date_formats()
        if reformatted is not None:
            found.append(Variant("date_formats", "dates written as text in each of the script's date formats",
                                 reformatted))
        recleaned = self.cleaned_keys()
        if recleaned is not None:
            found.append(Variant("cleaned_keys", "keys the script cleans, spaced and re-cased where they do not "
                                                 "repeat (the side looked up)", recleaned))
        emptied = self.empty_keys()
        if emptied is not None:
            found.append(Variant("empty_keys", "empty fields in key columns whose values repeat (of one source)"
                                 if self.repeating_keys else "empty fields in the key columns of the largest source",
                                 emptied))
        emptied_lookup = self.empty_lookup_keys()
        if emptied_lookup is not None:
            found.append(Variant("empty_lookup_keys", "an empty field in each key column of the smallest other "
                                                      "source (a blank line in a block list)", emptied_lookup))
        emptied_group = self.empty_group_numbers()
        if emptied_group is not None:
            found.append(Variant("empty_group_numbers", "every number empty in the rows of one group "
                                                        "(a group whose sums have nothing to add)", emptied_group))
        unique, seen = [], [self.base]
        for variant in found:
            if variant.tables not in seen:
                unique.append(variant)
                seen.append(variant.tables)
        return unique


def _json_document(text: str):
    """The JSON object or array ``text`` holds, or None (a plain value, or no JSON)."""
    text = text.strip()
    if not text or text[0] not in "{[":
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, (dict, list)) else None


# At most this many one-column parts are tried of a variant the original cannot process.
MAX_PARTS = 6


def column_parts(variant: Variant, sources: list[Source]) -> list[Variant]:
    """A variant that the original script cannot process, as one variant per column it changed, with the other
    columns as on the real data: a column of JSON text the variant made invalid, or a 0 the script divides by,
    then no longer throws away what the variant did to every other column. Only where the variant keeps every
    source's rows (their number, their columns); none for a variant that changed one column only.

    Example:
        >>> import tempfile, pathlib
        >>> from rewriter.sources import sniff
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("a,b,c\\n1,x,2\\n3,y,4\\n")
        >>> source = Source("t", path, pathlib.PurePosixPath("t.csv"), sniff(path))
        >>> v = Variant("demo", "both", {"t": (["a", "b", "c"], [["0", "x", "2"], ["3", "y", "-4"]])})
        >>> [(p.name, p.tables["t"][1]) for p in column_parts(v, [source])]
        [('demo:t.a', [['0', 'x', '2'], ['3', 'y', '4']]), ('demo:t.c', [['1', 'x', '2'], ['3', 'y', '-4']])]
    """
    base = {source.name: read_rows(source) for source in sources}
    changed = []
    for name, (header, rows) in variant.tables.items():
        real_header, real_rows = base[name]
        if (header, rows) == (real_header, real_rows):
            continue
        if header != real_header or len(rows) != len(real_rows) \
                or any(len(row) != len(real) for row, real in zip(rows, real_rows)):
            return []  # rows added, dropped or reshaped: no column to take alone
        width = len(real_rows[0]) if real_rows else 0
        changed += [(name, i) for i in range(width) if any(row[i] != real[i] for row, real in zip(rows, real_rows))]
    if len(changed) < 2:
        return []
    parts = []
    for name, index in changed[:MAX_PARTS]:
        header, rows = variant.tables[name]
        real_header, real_rows = base[name]
        column = header[index] if header else f"column{index + 1}"
        mixed = [real[:index] + [row[index]] + real[index + 1:] for row, real in zip(rows, real_rows)]
        tables = {**base, name: (real_header, mixed)}
        parts.append(Variant(f"{variant.name}:{name}.{column}",
                             f"{variant.description} (only in {name}.{column}: the original fails on the whole)",
                             tables))
    return parts


def variants(sources: list[Source], literals: Literals, seed: int = 0) -> list[Variant]:
    """The generated variants of the sources, in a fixed order; variants equal to the real data are left out."""
    return _Builder(sources, literals, seed).build()
