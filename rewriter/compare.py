"""Compare the original script's result with the SQL result as multisets, and say how they differ.

Python and SQL spell the same value differently, so each column is normalised to one family first, chosen
from the values on both sides:

* ``None``, NaN, NaT and the empty string are all *missing* (CSV has one way to say missing);
* ``True`` equals ``'True'``/``'true'``/``'t'``/``1``; ``3`` equals ``3.0`` and ``'3'`` (a CSV loop keeps
  numbers as text), but ``'03'``, ``' 3'`` and ``'3 '`` stay text: they are not how a number is written;
* integers, and floats holding an integer below 2**53, are compared exactly; other numbers to twelve
  significant digits (sums in another order round
  differently), and anything smaller than 1e-10 in size is zero (what is left of a cancelling sum);
* ``date(2024, 1, 2)`` equals ``'2024-01-02'`` and a timestamp at midnight of that day;
* timestamps with a UTC offset on both sides are instants: DuckDB returns a TIMESTAMPTZ in the session's time
  zone and pandas in whatever zone the script chose (``utc=True``, ``tz_convert``), so ``22:30+00:00`` equals
  ``23:30+01:00``. Where only one side carries offsets, the other side's naive timestamps are wall-clock times
  (what DuckDB's ``timezone('Europe/Berlin', ts)`` or a cast to TIMESTAMP gives), so the offset side is
  compared by its own wall-clock reading, and the diff says that one side has offsets and the other has not;
* anything else is compared as text.

Row order never matters; duplicates do.
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections import Counter
from dataclasses import dataclass, field

MISSING = ("missing",)
SHOW_ROWS = 5


@dataclass(frozen=True)
class Table:
    """A result: column names (invented as c1, c2, ... when the script gives none) and rows of Python values.
    ``unnamed`` holds the positions of invented names among known ones (``key`` for a dict's keys)."""

    columns: tuple[str, ...]
    rows: list[tuple] = field(repr=False)
    names_known: bool = True
    unnamed: tuple[int, ...] = ()
    # the same value read another way (a dict of columns, see _runner.column_reading), taken when the SQL
    # result's column names are this reading's
    by_columns: "Table | None" = field(default=None, repr=False)

    def reading_for(self, candidate: "Table") -> "Table":
        alternative = self.by_columns
        if alternative is not None and [c.lower() for c in candidate.columns] == [c.lower() for c in alternative.columns]:
            return alternative
        return self


@dataclass(frozen=True)
class Diff:
    """Why two results differ, for people and for the model's repair prompt."""

    summary: str
    details: list[str]

    def text(self) -> str:
        return "\n".join([self.summary, *self.details])


def decode(value):
    """Undo the runner's JSON tagging (see ``rewriter/_runner.py``)."""
    if isinstance(value, dict) and "$" in value:
        tag, text = value["$"], value["v"]
        if tag == "float":
            return float(text)
        if tag == "date":
            return dt.date.fromisoformat(text)
        if tag == "datetime":
            return dt.datetime.fromisoformat(text)
        if tag == "time":
            return dt.time.fromisoformat(text)
        if tag == "timedelta":
            return dt.timedelta(seconds=text)
        if tag == "decimal":
            return decimal.Decimal(text)
        if tag == "list":
            return tuple(decode(v) for v in text)
        return text
    return value


# -- normalisation ---------------------------------------------------------------------------------------------
def _family(value) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, decimal.Decimal)):
        return "num"
    if isinstance(value, dt.datetime):
        return "instant" if _has_offset(value) else "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, str):
        return "str"
    return "other"


def _has_offset(value: dt.datetime) -> bool:
    """Whether the timestamp names an instant (it knows its UTC offset), not a wall-clock time."""
    return value.utcoffset() is not None


def _is_missing(value) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, decimal.Decimal) and value.is_nan()


def column_family(left: set, right: set) -> str:
    """The family both sides of a column are compared in. Timestamps with offsets (``instant``) stay instants
    only when no naive timestamp or date is beside them; otherwise all are wall-clock times (``datetime``).

    Example:
        >>> column_family({"str"}, {"bool"}), column_family({"num"}, {"bool", "num"}), column_family({"date"}, {"str"})
        ('bool', 'num', 'date')
        >>> column_family({"instant"}, {"instant", "str"}), column_family({"instant"}, {"datetime"})
        ('instant', 'datetime')
    """
    families = left | right
    if not families:
        return "str"
    if len(families) == 1:
        return next(iter(families))
    if families <= {"num", "bool"}:
        return "num"
    times = families & {"date", "datetime", "instant"}
    if times and families <= {"date", "datetime", "instant", "str"}:
        if times == {"date"}:
            return "date"
        return "instant" if times == {"instant"} else "datetime"
    typed = families - {"str"}
    if len(typed) == 1:
        return typed.pop()
    return "str"


SIGNIFICANT_DIGITS = 12
NOISE = 1e-10  # a float smaller than this in size is rounding noise around zero

# how a number is written in a CSV file or by str(): no leading zeros, signs other than '-', or spaces
_NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|-?\.[0-9]+|-?inf|-?infinity",
                          re.IGNORECASE)


def _number(value: float | int | decimal.Decimal) -> object:
    """Integers exactly, and integral floats that hold an integer exactly (below 2**53) as that integer: an int
    column made float by a pandas left merge (``4006381333931.0``) equals the SQL's BIGINT. Other numbers are
    rounded to :data:`SIGNIFICANT_DIGITS` (an integral result is an int).

    Example:
        >>> _number(270000000.75), _number(10 ** 19 + 1), _number(0.1 + 0.2), _number(5.55e-17)
        (270000000.75, 10000000000000000001, 0.3, 0)
        >>> _number(4006381333931.0)
        4006381333931
    """
    if isinstance(value, int):
        return value
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    number = float(value)
    if math.isinf(number):
        return number
    if number.is_integer() and abs(number) < 2 ** 53:
        return int(number)
    if abs(number) < NOISE:
        return 0
    number = float(f"{number:.{SIGNIFICANT_DIGITS}g}")
    if number.is_integer() and abs(number) < 2 ** 53:
        return int(number)
    return number


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def canonical(value, family: str):
    """One comparable key per value; values that do not fit the family are kept as text (and differ).

    Example:
        >>> canonical("True", "bool"), canonical(2.0, "num"), canonical("2024-01-02 00:00:00", "date")
        (('bool', True), ('num', 2), ('date', datetime.date(2024, 1, 2)))
        >>> canonical("2024-03-31T01:30:00+02:00", "instant")
        ('instant', datetime.datetime(2024, 3, 30, 23, 30))
    """
    if _is_missing(value):
        return MISSING
    try:
        if family == "num":
            if isinstance(value, str):
                if not _NUMBER_TEXT.fullmatch(value):
                    return ("str", value)
                value = int(value) if value.lstrip("-").isdigit() else float(value)
            if isinstance(value, (int, float, decimal.Decimal)):
                return ("num", _number(value))
        elif family == "bool":
            if isinstance(value, str):
                lowered = value.lower()  # as CSV files and str() write them; 'yes' or ' true' is text
                if lowered in ("true", "t", "1", "1.0"):
                    return ("bool", True)
                if lowered in ("false", "f", "0", "0.0"):
                    return ("bool", False)
            elif isinstance(value, (bool, int, float)) and value in (0, 1):
                return ("bool", bool(value))
        elif family == "instant":
            return _instant(_parsed_time(value) if isinstance(value, str) else value)
        elif family in ("date", "datetime"):
            if isinstance(value, str):
                value = _parsed_time(value)
            if isinstance(value, dt.datetime):
                value = value.replace(tzinfo=None)  # a wall-clock time, see the module docstring
                if family == "date" and value.time() == dt.time(0):
                    return ("date", value.date())
                return ("datetime", value)
            if isinstance(value, dt.date):
                return ("date", value) if family == "date" else ("datetime", dt.datetime.combine(value, dt.time(0)))
        elif family == "str" and isinstance(value, str):
            return ("str", value)
    except (ValueError, TypeError, OverflowError):
        pass
    return ("str", _text(value))


def _parsed_time(text: str) -> dt.date | dt.datetime:
    text = text.strip()
    return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)


def _instant(value) -> tuple:
    """The key of a timestamp in a column of instants: the UTC time, so that the same instant in two zones
    (DuckDB's session zone, the script's ``tz_convert``) is one key. A naive timestamp or a date there has no
    instant and keeps a key of its own family (it differs)."""
    if isinstance(value, dt.datetime) and _has_offset(value):
        utc = value.astimezone(dt.timezone.utc)
        return ("instant", dt.datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
                                       utc.microsecond))
    if isinstance(value, dt.datetime):
        return ("datetime", value)
    if isinstance(value, dt.date):
        return ("date", value)
    return ("str", _text(value))


def _families(table: Table, index: int) -> set[str]:
    """The families of the column's values in one table (missing values have none)."""
    return {_family(r[index]) for r in table.rows if index < len(r)} - {None}


def normalise(original: Table, candidate: Table) -> tuple[list[tuple], list[tuple]]:
    """Both tables' rows as tuples of canonical keys, column by column."""
    width = len(original.columns)
    families = [column_family(_families(original, i), _families(candidate, i)) for i in range(width)]

    def rows(table: Table) -> list[tuple]:
        return [tuple(canonical(r[i] if i < len(r) else None, families[i]) for i in range(width))
                for r in table.rows]

    return rows(original), rows(candidate)


# -- diff ------------------------------------------------------------------------------------------------------
def _show(row: tuple) -> str:
    return "(" + ", ".join(_shown(k) for k in row) + ")"


def _shown(key: tuple) -> str:
    """A canonical key as the model reads it; an instant with its offset (it is held as naive UTC)."""
    if key == MISSING:
        return "NULL"
    if key[0] == "instant":
        return f"TIMESTAMPTZ '{key[1].isoformat(sep=' ')}+00:00'"
    return repr(key[1])


def diff(original: Table, candidate: Table, *, show: int = SHOW_ROWS) -> Diff | None:
    """None when the results are equal as multisets; otherwise what differs.

    Example:
        >>> a = Table(("id", "total"), [(1, 10.0), (2, 5.0), (3, None)])
        >>> b = Table(("id", "total"), [("1", 10), (2, 5.0)])
        >>> print(diff(a, b).text())
        original 3 rows, SQL 2 rows; 1 original rows missing from the SQL result, 0 extra SQL rows
        rows only in the original: (3, NULL)
    """
    original = original.reading_for(candidate)
    if not original.rows and original.names_known is False:
        # an empty list of rows says nothing of its columns (the runner names one, c1): compare the rows only
        if not candidate.rows:
            return None
        return Diff(f"the original result is empty; the SQL result has {len(candidate.rows)} rows",
                    ["rows only in the SQL result: " + "; ".join(repr(tuple(r)) for r in candidate.rows[:show])])
    if len(candidate.columns) != len(original.columns):
        return Diff(f"the SQL result has {len(candidate.columns)} columns ({', '.join(candidate.columns)}); "
                    f"the original has {len(original.columns)} ({', '.join(original.columns)})", [])
    details = []
    if original.names_known:
        renamed = [(i + 1, o, c) for i, (o, c) in enumerate(zip(original.columns, candidate.columns))
                   if o.lower() != c.lower() and i not in original.unnamed]
        if renamed:
            details.append("column names differ: " + "; ".join(f"column {i} is {c!r} in SQL, {o!r} in the original"
                                                            for i, o, c in renamed))
    left, right = normalise(original, candidate)
    left_bag, right_bag = Counter(left), Counter(right)
    only_left, only_right = left_bag - right_bag, right_bag - left_bag
    if not only_left and not only_right and not details:
        return None
    if not only_left and not only_right:
        return Diff("the rows are equal but " + details[0], details[1:])
    summary = (f"original {len(left)} rows, SQL {len(right)} rows; {sum(only_left.values())} original rows "
               f"missing from the SQL result, {sum(only_right.values())} extra SQL rows")
    lost = sorted(only_left.elements(), key=repr)
    extra = sorted(only_right.elements(), key=repr)
    if lost:
        details.append("rows only in the original: " + "; ".join(_show(r) for r in lost[:show])
                       + (f"; ... {len(lost) - show} more" if len(lost) > show else ""))
    if extra:
        details.append("rows only in the SQL result: " + "; ".join(_show(r) for r in extra[:show])
                       + (f"; ... {len(extra) - show} more" if len(extra) > show else ""))
    columns = original.columns
    details += _offset_notes(original, candidate)
    if lost and extra:
        pairs = _closest_pairs(lost[:200], extra[:200], show)
        for a, b in pairs:
            differing = [columns[i] for i in range(len(columns)) if a[i] != b[i]]
            details.append(f"closest pair: original {_show(a)} vs SQL {_show(b)}: differ in {', '.join(differing)}")
        alone = [columns[i] for i in range(len(columns)) if _equal_without(left, right, i)]
        if alone:
            details.append(f"the results are equal apart from column {alone[0]}")
    differing_columns = [columns[i] for i in range(len(columns)) if len(left) == len(right)
                         and Counter(r[i] for r in left) != Counter(r[i] for r in right)]
    if differing_columns:
        details.append("columns whose values differ (as multisets): " + ", ".join(differing_columns))
    return Diff(summary, details)


def same_result(one: Table, other: Table) -> bool:
    """Whether two results of the original script are equal, as :func:`diff` compares them, with text written
    as a number compared as that number on both sides: a result file holds text only, and a mean summed in
    another row order is written ``8.425`` one time and ``8.424999999999999`` the other.

    Example:
        >>> same_result(Table(("m",), [("8.425",)]), Table(("m",), [("8.424999999999999",)]))
        True
        >>> same_result(Table(("m",), [("8.425",)]), Table(("m",), [("8.43",)]))
        False
    """
    def numbers(table: Table) -> Table:
        return Table(table.columns, [tuple(float(v) if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v) else v
                                           for v in row) for row in table.rows], table.names_known, table.unnamed)
    return diff(numbers(one), numbers(other)) is None


def _offset_notes(original: Table, candidate: Table) -> list[str]:
    """Columns where one side's timestamps carry a UTC offset and the other side's do not. They are compared as
    wall-clock times (see the module docstring), which shows neither side's offset, so a model needs telling
    that the offset, or the zone the wall-clock is read in, may be what differs."""
    notes = []
    for index, column in enumerate(original.columns):
        left, right = _families(original, index), _families(candidate, index)
        for side, other, table, name in ((left, right, original, "the original"),
                                         (right, left, candidate, "the SQL result")):
            if "instant" in side and other & {"datetime", "date"} and "instant" not in other:
                example = next(r[index] for r in table.rows if index < len(r) and _family(r[index]) == "instant")
                notes.append(f"column {column}: timestamps in {name} carry a UTC offset (such as "
                             f"{example.isoformat(sep=' ')}) and the other side's do not; they are compared "
                             "as wall-clock times, each in its own zone")
    return notes


def _equal_without(left: list[tuple], right: list[tuple], index: int) -> bool:
    drop = lambda rows: Counter(r[:index] + r[index + 1:] for r in rows)  # noqa: E731
    return len(left) == len(right) and drop(left) == drop(right)


def _closest_pairs(lost: list[tuple], extra: list[tuple], limit: int) -> list[tuple[tuple, tuple]]:
    pairs, used = [], set()
    for a in lost:
        best, best_score = None, 0
        for j, b in enumerate(extra):
            if j in used:
                continue
            score = sum(x == y for x, y in zip(a, b))
            if score > best_score:
                best, best_score = j, score
        if best is not None and best_score >= max(1, len(a) // 2):
            used.add(best)
            pairs.append((a, extra[best]))
        if len(pairs) >= limit:
            break
    return pairs
