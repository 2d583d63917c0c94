"""Read the user's pipeline (a Python script or a notebook) and take it apart with :mod:`ast`.

Three things come out of the user's code, never out of the model's:

* :func:`user_functions`: the top-level functions a rewrite may keep as Python UDFs, with their signatures;
* :func:`udf_source`: the verbatim source of chosen functions plus the module-level imports, constants and
  helper functions they need, ready to become ``udfs.py``;
* :func:`literals`: the numbers, dates and short strings the script compares against, from which
  :mod:`rewriter.variants` builds boundary data.
"""
from __future__ import annotations

import ast
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from rewriter.errors import RewriteError, first_line

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
OTHER_DATE = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")  # day and month first, in either order
YEAR_FIRST_DATE = re.compile(r"^(\d{4})(?:/(\d{1,2})/(\d{1,2})|(\d{2})(\d{2}))$")


@dataclass(frozen=True)
class Script:
    """The pipeline as Python source: a script's text, or a notebook's code cells joined in order."""

    path: Path
    code: str
    kind: str  # "script" or "notebook"


@dataclass(frozen=True)
class UserFunction:
    name: str
    params: tuple[str, ...]
    annotations: tuple[str | None, ...]  # one per parameter, the annotation's source text or None
    returns: str | None
    doc: str
    line: int

    def signature(self) -> str:
        params = ", ".join(p if a is None else f"{p}: {a}" for p, a in zip(self.params, self.annotations))
        return f"{self.name}({params})" + (f" -> {self.returns}" if self.returns else "")


@dataclass(frozen=True)
class Literals:
    """Constants in the script: candidates for boundary values in generated data."""

    numbers: frozenset = field(default_factory=frozenset)
    dates: frozenset = field(default_factory=frozenset)  # datetime.date or datetime.datetime values
    strings: frozenset = field(default_factory=frozenset)
    # column names the script joins or looks up by (see join_names); None: it may join on names it does not
    # spell out (merge() without on=), so any name two sources share may be a join key
    joins: frozenset | None = None
    # column names whose text the script cleans before using it (see normalised_names): spaces, letter case
    stripped: frozenset = field(default_factory=frozenset)
    cased: frozenset = field(default_factory=frozenset)
    # column names the script groups by (see group_names)
    groups: frozenset = field(default_factory=frozenset)
    # the script numbers weeks or days of the year (strftime("%W"), isocalendar(), .dt.week): see calendar_weeks
    calendar_weeks: bool = False
    # date formats the script parses with (strptime(text, "%d/%m/%Y"), format="%b %d %Y"): see date_formats
    date_formats: frozenset = field(default_factory=frozenset)
    # the script converts timestamps to another time zone (tz_convert, astimezone): see converts_zones
    time_zones: bool = False
    # durations the script writes (pd.Timedelta(minutes=30), timedelta(days=7)): see durations
    durations: frozenset = field(default_factory=frozenset)
    # fields the script reads as text with regular expressions or string methods: see text_names
    texts: frozenset = field(default_factory=frozenset)


def load_script(path: str | Path) -> Script:
    """Read a ``.py`` script or the code cells of an ``.ipynb`` notebook and check that it parses.

    Notebook magics (``%time``, ``!pip``) become comments, so the cells form one runnable script.
    """
    path = Path(path)
    if not path.is_file():
        raise RewriteError(f"script {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RewriteError(f"cannot read script {path}: {first_line(error)}") from None
    kind = "script"
    if path.suffix.lower() == ".ipynb":
        kind, text = "notebook", notebook_code(text, path)
    try:
        ast.parse(text, filename=str(path))
    except SyntaxError as error:
        raise RewriteError(f"script {path} is not valid Python: {error.msg} (line {error.lineno})") from None
    return Script(path=path, code=text, kind=kind)


def notebook_code(text: str, path: Path | str = "notebook") -> str:
    """The code cells of a notebook, in order, as one script.

    Example:
        >>> nb = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\\n", "x = 1"]},
        ...                 {"cell_type": "markdown", "source": "# title"},
        ...                 {"cell_type": "code", "source": "y = x + 1"}]}
        >>> notebook_code(json.dumps(nb)).splitlines()
        ['# %matplotlib inline', 'x = 1', '', 'y = x + 1']
    """
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError) as error:
        raise RewriteError(f"notebook {path} is not valid .ipynb JSON: {first_line(error)}") from None
    parts = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        lines = [f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# -- user functions -------------------------------------------------------------------------------------------
def user_functions(code: str) -> dict[str, UserFunction]:
    """Top-level ``def`` functions of the script, by name.

    Example:
        >>> f = user_functions("def score(text: str, w=2) -> float:\\n    '''Word score.'''\\n    return 1.0")
        >>> f["score"].signature(), f["score"].doc
        ('score(text: str, w) -> float', 'Word score.')
    """
    found = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            args = [*node.args.posonlyargs, *node.args.args]
            found[node.name] = UserFunction(
                name=node.name,
                params=tuple(a.arg for a in args),
                annotations=tuple(ast.unparse(a.annotation) if a.annotation else None for a in args),
                returns=ast.unparse(node.returns) if node.returns else None,
                doc=(ast.get_docstring(node) or "").strip().splitlines()[0] if ast.get_docstring(node) else "",
                line=node.lineno)
    return found


def _bound_names(node: ast.stmt) -> set[str]:
    """Module-level names a top-level statement defines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    targets = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    names, todo = set(), list(targets)
    while todo:  # plain names and tuple unpacking bind; ``df["x"] = ...`` only changes an existing object
        target = todo.pop()
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            todo.extend(target.elts)
        elif isinstance(target, ast.Starred):
            todo.append(target.value)
    return names


def _free_names(node: ast.AST) -> set[str]:
    """Names a statement reads that it does not define itself (an approximation good for small helpers)."""
    loaded, local = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loaded if isinstance(sub.ctx, ast.Load) else local).add(sub.id)
        elif isinstance(sub, ast.arg):
            local.add(sub.arg)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        local.discard(node.name)
        return loaded - local
    return loaded


def udf_source(code: str, names: list[str]) -> str:
    """The user's own source for ``names``: the functions and every top-level import, constant and helper
    they need, verbatim and in the script's order.

    Example:
        >>> src = '''import re
        ... import pandas as pd
        ... WORDS = {"good", "great"}
        ... df = pd.read_csv("reviews.csv")
        ... def score(text):
        ...     return sum(w in WORDS for w in re.findall("[a-z]+", text.lower()))
        ... df["s"] = df["text"].apply(score)
        ... '''
        >>> print(udf_source(src, ["score"]))
        import re
        WORDS = {"good", "great"}
        def score(text):
            return sum(w in WORDS for w in re.findall("[a-z]+", text.lower()))
    """
    body = ast.parse(code).body
    binders: dict[str, list[int]] = {}
    for index, node in enumerate(body):
        for name in _bound_names(node):
            binders.setdefault(name, []).append(index)
    chosen: set[int] = set()
    todo = list(names)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for index in binders.get(name, []):
            if index not in chosen:
                chosen.add(index)
                todo.extend(_free_names(body[index]))
    future = [i for i, n in enumerate(body) if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    segments = [ast.get_source_segment(code, body[i]) for i in sorted(set(future) | chosen)]
    return "\n".join(s for s in segments if s)


# -- literals --------------------------------------------------------------------------------------------------
def _as_date(text: str) -> dt.date | dt.datetime | None:
    if not ISO_DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _other_dates(text: str) -> set[dt.date]:
    """The days a date written other than ISO may mean (``15.03.2024``, ``03/15/2024``, ``2024/03/15``,
    ``20240315``): both readings of day and month when both are possible, for a boundary day too many costs
    nothing.

    Example:
        >>> sorted(map(str, _other_dates("15.03.2024"))), sorted(map(str, _other_dates("03/04/2024")))
        (['2024-03-15'], ['2024-03-04', '2024-04-03'])
    """
    found = set()
    match = OTHER_DATE.match(text)
    if match:
        first, second, year = (int(g) for g in match.groups())
        for day, month in ((first, second), (second, first)):
            try:
                found.add(dt.date(year, month, day))
            except ValueError:
                pass
    match = YEAR_FIRST_DATE.match(text)
    if match:
        try:
            found.add(dt.date(*(int(g) for g in match.groups() if g is not None)))
        except ValueError:
            pass
    return found


def literals(code: str) -> Literals:
    """Numbers, dates (string literals, ISO or day/month first, or ``date(y, m, d)``, ``datetime(..)``,
    ``pd.Timestamp(y, m, d)`` calls) and short words in the script.

    Example:
        >>> found = literals("if r['amount'] >= 100 and r['day'] < '2024-02-01' and s == 'shipped': pass")
        >>> sorted(found.numbers), sorted(map(str, found.dates)), sorted(found.strings)
        ([100], ['2024-02-01'], ['amount', 'day', 'shipped'])
    """
    numbers, dates, strings = set(), set(), set()
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            fname = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]
            if fname in ("date", "datetime", "Timestamp") and len(args) >= 3 and len(args) == len(node.args):
                try:
                    dates.add(dt.date(*args[:3]) if fname == "date" else dt.datetime(*args))
                except (ValueError, TypeError):
                    pass
        if not isinstance(node, ast.Constant):
            continue
        value = node.value
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            if abs(value) < 1e15:
                numbers.add(value)
        elif isinstance(value, str):
            as_date, other = _as_date(value.strip()), _other_dates(value.strip())
            if as_date is not None:
                dates.add(as_date)
            elif other:
                dates |= other
            elif 0 < len(value) <= 40 and not any(c in value for c in "\n\r\"',;/\\{}%|\t") \
                    and not re.search(r"\.(csv|tsv|json|txt|parquet|xlsx?)$", value, re.I):
                strings.add(value)
    dates |= _derived_dates(tree)
    stripped, cased = normalised_names(code)
    return Literals(numbers=frozenset(numbers), dates=frozenset(dates), strings=frozenset(strings),
                    joins=join_names(code), stripped=stripped, cased=cased, groups=group_names(code),
                    calendar_weeks=calendar_weeks(tree), date_formats=date_formats(tree),
                    time_zones=converts_zones(tree), durations=durations(tree), texts=text_names(tree))


DATE_DIRECTIVES = re.compile(r"%[-#]?[dmbByYjaAHIMS]")


def date_formats(tree: ast.AST) -> frozenset[str]:
    """The string constants that are date formats the script reads with: two or more directives, a year and
    a day or month among them (``"%d/%m/%Y"``, ``"%b %d %Y"``), with no other ``%`` (``"%s rows"`` is printf, not
    a date), and not only written out (``strftime("%Y-%m")``).

    Example:
        >>> code = "F = ('%Y-%m-%d', '%d/%m/%Y')\\nprint('%s of %d' % (a, b))\\nm = d.strftime('%Y-%m')"
        >>> sorted(date_formats(ast.parse(code)))
        ['%Y-%m-%d', '%d/%m/%Y']
    """
    written = {id(argument) for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute) and node.func.attr == "strftime" for argument in node.args}
    found = set()
    for node in ast.walk(tree):
        if id(node) in written:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) <= 40:
            text = node.value
            directives = DATE_DIRECTIVES.findall(text)
            if len(directives) >= 2 and any(d[-1] in "dmbBj" for d in directives) \
                    and text.count("%") == len(directives) and any(d[-1] in "yY" for d in directives):
                found.add(text)
    return frozenset(found)


WEEK_DIRECTIVES = re.compile(r"%-?[WUVGjuw]")
WEEK_NAMES = {"isocalendar", "week", "weekofyear", "dayofyear", "day_of_year", "isoweekday", "weekday",
              "dayofweek", "day_of_week"}


def calendar_weeks(tree: ast.AST) -> bool:
    """Whether the script numbers weeks or days of a year or week (``strftime("%Y-W%W")``, ``isocalendar()``,
    ``.dt.week``, ``.weekday()``): ``%W``, ``%U`` and ISO's ``%V`` differ only in the first and last days of a
    year, so the boundary dates then include those (see :mod:`rewriter.variants`).

    Example:
        >>> calendar_weeks(ast.parse("w = d.strftime('%Y-W%W')")), calendar_weeks(ast.parse("y = df.day.dt.year"))
        (True, False)
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and WEEK_DIRECTIVES.search(node.value):
            return True
        if isinstance(node, ast.Attribute) and node.attr in WEEK_NAMES:
            return True
    return False


ZONE_CALLS = {"tz_convert", "tz_localize", "astimezone", "ZoneInfo", "gettz", "localize"}
ZONE_NAME = re.compile(r"(Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/\w+")


def converts_zones(tree: ast.AST) -> bool:
    """Whether the script converts timestamps to another time zone (``.dt.tz_convert("Europe/Berlin")``,
    ``.astimezone(ZoneInfo(...))``): a time late in a UTC day is then another day, month or weekday locally, so
    the boundary timestamps include such times (see :mod:`rewriter.variants`).

    Example:
        >>> converts_zones(ast.parse("x = pd.to_datetime(s, utc=True).dt.tz_convert('Europe/Berlin')"))
        True
        >>> converts_zones(ast.parse("x = pd.to_datetime(s).dt.month"))
        False
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ZONE_CALLS:
            return True
        if isinstance(node, ast.Name) and node.id in ZONE_CALLS:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ZONE_NAME.fullmatch(node.value):
            return True
    return False


def group_names(code: str) -> frozenset[str]:
    """Column names the script groups by in pandas (``groupby("kind")``, ``groupby(by=["a", "b"])``,
    ``pivot_table(index="kind")``): a variant empties the numbers of one such group (see
    :mod:`rewriter.variants`), where pandas' ``sum()`` gives 0 and SQL's ``SUM`` NULL.

    Example:
        >>> sorted(group_names("a = df.groupby('kind')['x'].sum()\\nb = df.groupby(by=['g', 'h']).size()"))
        ['g', 'h', 'kind']
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("groupby", "pivot_table"):
            keyword = "by" if node.func.attr == "groupby" else "index"
            given = [k.value for k in node.keywords if k.arg == keyword]
            given += node.args[:1] if node.func.attr == "groupby" else []
            for value in given:
                found |= _constant_names(value) or set()
    return frozenset(found)


JOIN_CALLS = {"merge", "join", "merge_asof", "merge_ordered"}
JOIN_KEYWORDS = {"on", "left_on", "right_on", "by", "left_by", "right_by"}
INDEX_JOIN_KEYWORDS = {"left_index", "right_index"}
LOOKUP_METHODS = {"get", "map", "isin", "pop", "setdefault"}


def _field_names(node: ast.AST | None) -> set[str]:
    """The names of the fields an expression reads by a string subscript (``row["sku"].strip()`` reads sku)."""
    if node is None:
        return set()
    return {n.slice.value for n in ast.walk(node) if isinstance(n, ast.Subscript)
            and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)}


def _constant_names(node: ast.AST) -> set[str] | None:
    """The strings of ``"a"`` or ``["a", "b"]``; None for anything else (a variable)."""
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    if all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
        return {i.value for i in items}
    return None


def _join_call_names(node: ast.Call) -> set[str] | None:
    """Key names of a ``merge`` / ``join`` call (and of ``set_index``, whose index a join may use); None when
    it joins on names it does not spell out (``pd.merge(a, b)`` joins on every shared column)."""
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    if name == "set_index":
        return set().union(*[_constant_names(a) or set() for a in node.args[:1]])
    if name not in JOIN_CALLS or (name == "join" and isinstance(getattr(node.func, "value", None), ast.Constant)):
        return set()
    keywords = {k.arg: k.value for k in node.keywords}
    found: set[str] = set()
    for keyword in JOIN_KEYWORDS & set(keywords):
        names = _constant_names(keywords[keyword])
        if names is None:
            return None
        found |= names
    if found or INDEX_JOIN_KEYWORDS & set(keywords) or name == "join":
        return found  # join() without on= joins on the index (set_index names it)
    return None


def _base_name(node: ast.AST) -> str | None:
    """The variable an expression starts from (``df`` of ``df.loc``, ``row`` of ``row["sku"].strip()``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _keyed_by_field(node: ast.Subscript) -> bool:
    """Whether a subscript looks a field's value up in a dict (``names[row["id"]]``), not a row filter of a
    frame by its own column (``df[df["amount"] >= 100]``, ``df.loc[df["x"].notna()]``)."""
    key = node.slice
    if isinstance(key, (ast.Constant, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Slice, ast.List)):
        return False
    container = _base_name(node.value)
    return all(_base_name(n) != container for n in ast.walk(key) if isinstance(n, ast.Subscript))


LITERAL_ARGUMENTS = (ast.Dict, ast.List, ast.Set, ast.Tuple, ast.Constant, ast.Lambda)


def _looked_up_names(node: ast.Call) -> set[str]:
    """Fields used to look something up: ``d.get(row["cid"])``; ``df["cid"].map(names)`` or
    ``.isin(other["id"])`` (a join), not ``.map({"male": 0})`` or ``.isin(["a", "b"])`` (a recoding, a filter)."""
    method = node.func.attr if isinstance(node.func, ast.Attribute) else None
    if method not in LOOKUP_METHODS or not node.args:
        return set()
    if method in ("get", "pop", "setdefault"):
        return _field_names(node.args[0])
    if isinstance(node.args[0], LITERAL_ARGUMENTS):
        return set()
    return _field_names(node.func.value) | _field_names(node.args[0])


def join_names(code: str) -> frozenset[str] | None:
    """Column names the script joins or looks up by: ``merge``/``join`` keys, ``set_index`` columns, fields
    used as dict keys (``names[row["id"]] = ...``, ``names.get(row["customer_id"])``, ``row["sku"] in
    products``) and ``df["code"].map(...)`` / ``.isin(...)``. None when a join names no keys (``pd.merge(a, b)``
    joins on every column the two share). Generated variants keep such columns' values, so joins keep their
    partners; other columns two sources share (an ``amount`` in orders and in refunds) are varied.

    Example:
        >>> sorted(join_names("df = a.merge(b, on=['ssn'])\\nd[r['sku'].strip()] = 1\\nx = d.get(r['cid'])"))
        ['cid', 'sku', 'ssn']
        >>> join_names("df = pd.merge(a, b)") is None
        True
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            names = _join_call_names(node)
            if names is None:
                return None
            found |= names
            found |= _looked_up_names(node)
        elif isinstance(node, ast.Subscript) and _keyed_by_field(node):
            found |= _field_names(node.slice)  # names[row["id"]]: a dict keyed by a field
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            found |= _field_names(node.left)
    return frozenset(found)


STRIPPING = {"strip", "lstrip", "rstrip"}
CASING = {"upper", "lower", "casefold", "title", "capitalize"}


def _cleaned_field(node: ast.AST) -> str | None:
    """The field a chain of string cleaning reads: ``row["sku"]`` of ``row["sku"].strip().upper()``, ``code``
    of ``df["code"].str.strip()`` or ``df.code.str.upper()``."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in STRIPPING | CASING and not node.args:
            node = node.func.value
        elif isinstance(node, ast.Attribute) and node.attr == "str":
            node = node.value
            if isinstance(node, ast.Attribute):  # df.code.str
                return node.attr
        else:
            break
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


REGEX_CALLS = {"sub": 2, "subn": 2, "match": 1, "search": 1, "fullmatch": 1, "findall": 1, "finditer": 1,
               "split": 1}  # re.<call>(pattern, ..): the position of the text
TEXT_METHODS = {"replace", "extract", "extractall", "contains", "match", "fullmatch", "findall", "split", "rsplit",
                "partition", "rpartition", "startswith", "endswith", "slice", "zfill", "isdigit", "isalpha",
                "isnumeric", "find", "count"}


def text_names(tree: ast.AST) -> frozenset[str]:
    """Fields the script reads as text with a regular expression or a string method (``re.sub(r"[^0-9+]", "",
    row["phone"])``, ``df["phone"].str.replace(..)``, ``row["code"].split("-")``, ``row["phone"][2:]``): such a
    column of mostly digits is no column of words, yet spaces, blanks and the script's constants belong in it
    (see :mod:`rewriter.variants`).

    Example:
        >>> code = "p = re.sub('[^0-9]', '', row['phone'])\\nq = df['sku'].str.split('-')\\nr = row['tel'][2:]"
        >>> sorted(text_names(ast.parse(code)))
        ['phone', 'sku', 'tel']
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, name = node.func.value, node.func.attr
            if isinstance(owner, ast.Name) and owner.id == "re" and name in REGEX_CALLS \
                    and len(node.args) > REGEX_CALLS[name]:
                found |= _direct_field(node.args[REGEX_CALLS[name]])
            elif name in TEXT_METHODS:
                receiver = owner.value if isinstance(owner, ast.Attribute) and owner.attr == "str" else owner
                found |= _direct_field(receiver)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            found |= _direct_field(node.value)
    return frozenset(found)


def _direct_field(node: ast.AST) -> set[str]:
    """``{"phone"}`` for ``row["phone"]``, ``df["phone"]``, ``df.phone`` (through ``str()`` and cleaning
    calls); empty for anything else."""
    while isinstance(node, ast.Call) and (isinstance(node.func, ast.Name) and node.func.id == "str" and node.args
                                          or isinstance(node.func, ast.Attribute)
                                          and node.func.attr in STRIPPING | CASING):
        node = node.args[0] if isinstance(node.func, ast.Name) else node.func.value
        if isinstance(node, ast.Attribute) and node.attr == "str":
            node = node.value
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return {node.slice.value}
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id not in ("re", "np",
                                                                                                     "pd", "math"):
        return {node.attr}
    return set()


def normalised_names(code: str) -> tuple[frozenset[str], frozenset[str]]:
    """Fields the script strips of spaces, and fields it brings to one letter case, before using them:
    generated variants may put spaces or other cases into such a field even where it is a join key, because
    the script's own joins still find their partners (``products[row["sku"].strip().upper()]``).

    Example:
        >>> found = normalised_names("k = row['sku'].strip().upper()\\ndf['cc'] = df['cc'].str.lower()\\nx = df.n.str.strip()")
        >>> sorted(found[0]), sorted(found[1])
        (['n', 'sku'], ['cc', 'sku'])
    """
    stripped, cased = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in STRIPPING | CASING:
            name = _cleaned_field(node)
            if name is None:
                continue
            methods = set()
            inner = node
            while isinstance(inner, (ast.Call, ast.Attribute)):
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                    methods.add(inner.func.attr)
                    inner = inner.func.value
                elif isinstance(inner, ast.Attribute):
                    inner = inner.value
                else:
                    break
            if methods & STRIPPING:
                stripped.add(name)
            if methods & CASING:
                cased.add(name)
    return frozenset(stripped), frozenset(cased)


DATE_CALLS = {"date", "datetime", "Timestamp", "to_datetime"}


def _constant_dates(node: ast.AST, names: dict[str, ast.AST] | None = None) -> set:
    """The days a constant expression may name: ``'2024-03-31'``, ``pd.Timestamp('2024-03-31')``,
    ``pd.to_datetime('03/04/2024')`` (both readings), ``date(2024, 3, 31)``, or a name the script binds once to
    one of those (``INVOICE_DAY = date(2024, 3, 31)``; ``names``, see :func:`_bound_once`)."""
    if isinstance(node, ast.Name) and names and node.id in names:
        return _constant_dates(names[node.id])
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        iso = _as_date(node.value.strip())
        return {iso} if iso is not None else _other_dates(node.value.strip())
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        if name not in DATE_CALLS or not node.args:
            return set()
        if len(node.args) == 1:
            return _constant_dates(node.args[0])
        numbers = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int)]
        if len(numbers) == len(node.args) >= 3:
            try:
                return {dt.date(*numbers[:3]) if name == "date" else dt.datetime(*numbers)}
            except (ValueError, TypeError):
                return set()
    return set()


def _bound_once(tree: ast.AST) -> dict[str, ast.AST]:
    """Names the script assigns exactly once, to the expression they hold: constants written as variables
    (``INVOICE_DAY = date(2024, 3, 31)``, ``WINDOW = 30``) are read through them."""
    values: dict[str, ast.AST] = {}
    seen: dict[str, int] = {}
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.NamedExpr)) else []
        for target in targets:
            for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
                seen[name] = seen.get(name, 0) + 1
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(target, ast.Name) and node.value:
                    values[name] = node.value
    return {name: value for name, value in values.items() if seen[name] == 1}


def _constant_int(node: ast.AST, names: dict[str, ast.AST]) -> int | None:
    if isinstance(node, ast.Name) and node.id in names:
        node = names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_int(node.operand, {})
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    return None


DAY = dt.timedelta(days=1)
DAY_UNITS = {"days": DAY, "weeks": 7 * DAY, "d": DAY, "day": DAY, "D": DAY, "w": 7 * DAY, "W": 7 * DAY}
DAY_TEXT = re.compile(r"\s*(\d+)\s*(D|d|days?)\s*")
DURATION_UNITS = {**DAY_UNITS, "hours": DAY / 24, "h": DAY / 24, "hour": DAY / 24, "minutes": DAY / 1440,
                  "min": DAY / 1440, "minute": DAY / 1440, "T": DAY / 1440, "seconds": dt.timedelta(seconds=1),
                  "s": dt.timedelta(seconds=1), "sec": dt.timedelta(seconds=1), "second": dt.timedelta(seconds=1),
                  "milliseconds": dt.timedelta(milliseconds=1)}
DURATION_TEXT = re.compile(r"\s*(\d+)\s*(D|d|days?|h|hours?|min|minutes?|T|s|sec|seconds?)\s*")


def _constant_delta(node: ast.AST, names: dict[str, ast.AST] | None = None, units=DAY_UNITS,
                    text_form=DAY_TEXT) -> dt.timedelta | None:
    """The duration of ``pd.Timedelta(days=30)``, ``timedelta(30)``, ``timedelta(weeks=2)``, ``pd.Timedelta('30D')``,
    ``pd.Timedelta(30, 'D')``, ``pd.Timedelta(30, unit='d')``, also with a name bound once to the number or to
    the whole delta (``timedelta(days=WINDOW)``), in the ``units`` given (whole days by default: hours are then
    None, as is a computed value)."""
    names = names or {}
    if isinstance(node, ast.Name) and node.id in names:
        node = names[node.id]
    if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))):
        return None
    name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
    if name not in ("Timedelta", "timedelta") or not (node.args or node.keywords):
        return None

    def constant(value: ast.AST):
        number = _constant_int(value, names)
        return number if number is not None else value.value if isinstance(value, ast.Constant) else None

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    constants = [constant(a) for a in node.args]
    keywords = {k.arg: constant(k.value) for k in node.keywords}
    unit = keywords.pop("unit", constants[1] if len(constants) > 1 else ("ns" if name == "Timedelta" else "days"))
    total = dt.timedelta(0)
    try:
        if constants:
            first = constants[0]
            text = text_form.fullmatch(first) if isinstance(first, str) else None
            if text is not None and len(constants) == 1:
                total += int(text.group(1)) * units[text.group(2)]
            elif whole(first) and isinstance(unit, str) and unit in units and len(constants) <= 2:
                total += first * units[unit]
            else:
                return None
        for key, value in keywords.items():
            if key not in units or not whole(value):
                return None
            total += value * units[key]
    except OverflowError:
        return None
    return total


def _constant_days(node: ast.AST, names: dict[str, ast.AST] | None = None) -> int | None:
    """The whole days of a constant duration (see :func:`_constant_delta`); None for anything else."""
    delta = _constant_delta(node, names)
    return None if delta is None else delta.days


def durations(tree: ast.AST) -> frozenset:
    """The durations the script writes as constants: ``pd.Timedelta(minutes=30)``, ``timedelta(days=7)``,
    ``timedelta(7)``, ``pd.Timedelta("30min")``, also through a name bound once (``minutes=GAP``). A variant
    spaces timestamps that far apart: ``diff() > pd.Timedelta(minutes=30)`` then meets two events exactly 30
    minutes apart, where ``>=`` differs (see :mod:`rewriter.variants`).

    Example:
        >>> sorted(str(d) for d in durations(ast.parse("G = 30\\ngap = pd.Timedelta(minutes=G)\\nw = timedelta(7)")))
        ['0:30:00', '7 days, 0:00:00']
        >>> sorted(str(d) for d in durations(ast.parse("x = pd.Timedelta('2h') + pd.Timedelta(hours=n)")))
        ['2:00:00']
    """
    names = _bound_once(tree)
    found = {_constant_delta(node, names, DURATION_UNITS, DURATION_TEXT) for node in ast.walk(tree)
             if isinstance(node, ast.Call)}
    return frozenset(d for d in found if d is not None and d > dt.timedelta(0))


def _derived_dates(tree: ast.AST) -> set:
    """Days the script computes from its constants: ``pd.Timestamp("2024-03-31") - pd.Timedelta(days=30)`` (a
    cutoff), a window written as a difference of days (``(INVOICE_DAY - day).days > 30``, also through a column
    or name that holds the difference: ``df["age"] = (INVOICE_DAY - df.day).dt.days`` then ``df.age <= 30``;
    both ``INVOICE_DAY - 30`` and ``+ 30`` days, whichever side the column is on), and the first days of a year
    a ``.year`` is compared with (``df.day.dt.year == 2024``), so that the boundary variant puts rows on those
    days and the days either side. Constants bound once to a name count as the constant.

    Example:
        >>> sorted(map(str, _derived_dates(ast.parse("c = pd.Timestamp('2024-03-31') - pd.Timedelta(days=30)"))))
        ['2024-03-01']
        >>> sorted(map(str, _derived_dates(ast.parse("x = df[df.day.dt.year >= 2024]\\ny = df.year + 2000"))))
        ['2024-01-01', '2025-01-01']
        >>> code = "D = date(2024, 3, 31)\\nW = 30\\nold = [r for r in rows if (D - r['day']).days > W]"
        >>> sorted(map(str, _derived_dates(ast.parse(code))))
        ['2024-03-01', '2024-04-30']
    """
    names = _bound_once(tree)
    found = set()
    differences = _day_differences(tree, names)
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            days, delta = _constant_dates(node.left, names), _constant_days(node.right, names)
            if not days and isinstance(node.op, ast.Add):
                days, delta = _constant_dates(node.right, names), _constant_days(node.left, names)
            if delta is not None:
                found |= {d + dt.timedelta(days=delta if isinstance(node.op, ast.Add) else -delta) for d in days}
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(n, ast.Attribute) and n.attr == "year" for n in sides):
                found |= {dt.date(year, 1, 1) for n in sides if isinstance(n, ast.Constant)
                          and isinstance(n.value, int) and not isinstance(n.value, bool) and 1900 <= n.value <= 2100
                          for year in (n.value, n.value + 1)}
            days = set().union(*(differences.get(_difference_key(n), set()) for n in sides))
            counts = {c for n in sides if (c := _constant_int(n, names)) is not None and abs(c) <= 36600}
            for day in days:
                for count in counts:
                    try:
                        found |= {day - dt.timedelta(days=count), day + dt.timedelta(days=count)}
                    except OverflowError:
                        pass
    return found


def _day_difference(node: ast.AST, names: dict[str, ast.AST]) -> set:
    """The constant days in ``(D - x).days`` or ``(x - D).dt.days`` (empty for anything else)."""
    if not (isinstance(node, ast.Attribute) and node.attr == "days"):
        return set()
    inner = node.value.value if isinstance(node.value, ast.Attribute) and node.value.attr == "dt" else node.value
    if isinstance(inner, ast.Name) and inner.id in names:
        inner = names[inner.id]
    if not (isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub)):
        return set()
    return _constant_dates(inner.left, names) | _constant_dates(inner.right, names)


def _difference_key(node: ast.AST):
    """What a compared side is, for :func:`_day_differences`: the expression itself when it is a difference of
    days, else the column (``df["age"]``, ``df.age``, ``row["age"]``) or name that may hold one."""
    if isinstance(node, ast.Attribute) and node.attr == "days":
        return ("expression", ast.dump(node))
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return ("column", node.slice.value)
    if isinstance(node, ast.Attribute):
        return ("column", node.attr)
    if isinstance(node, ast.Name):
        return ("name", node.id)
    return None


def _day_differences(tree: ast.AST, names: dict[str, ast.AST]) -> dict:
    """Each difference of days with a constant day in it (see :func:`_day_difference`), keyed as
    :func:`_difference_key` names a compared side: the expression itself, and the column or name it is
    assigned to (``df["age"] = (D - df.day).dt.days``, ``age = (D - day).days``)."""
    found: dict = {}
    by_node = {id(node): days for node in ast.walk(tree) if (days := _day_difference(node, names))}
    for node in ast.walk(tree):
        if id(node) in by_node:
            found.setdefault(("expression", ast.dump(node)), set()).update(by_node[id(node)])
        if isinstance(node, ast.Assign):
            days = set().union(*(by_node.get(id(n), set()) for n in ast.walk(node.value)))
            for target in node.targets if days else []:
                key = _difference_key(target)
                if key is not None and key[0] != "expression":
                    found.setdefault(key, set()).update(days)
    return found
