"""The source files the user names (``--source NAME=PATH``): where the script expects them, how DuckDB reads
them, how they look to the model, and how generated variants are written in the same format.

A source is a delimited text file (CSV, TSV), or one compressed with gzip (``orders.csv.gz``, which pandas, DuckDB
and ``ivm load`` all decompress by its name; generated variants are written compressed too). DuckDB's sniffer
fixes its format once, on the real file; every variant is read back with exactly that format and those column
types, so a view sees the same table shape on every data set, and the same shape ``ivm load`` gives it.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import duckdb
from sqlglot import exp

from rewriter.errors import RewriteError, first_line
from rewriter.script import Script

SAMPLE_ROWS = 5
NOT_DELIMITED = (".parquet", ".pq", ".xlsx", ".xls", ".json", ".jsonl", ".ndjson", ".feather")
OTHER_COMPRESSION = (".zip", ".bz2", ".xz", ".zst", ".7z", ".tar", ".tgz")


@dataclass(frozen=True)
class CsvFormat:
    delimiter: str
    header: bool
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type) in file order
    dateformat: str | None
    timestampformat: str | None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def types(self) -> dict[str, str]:
        return dict(self.columns)


@dataclass(frozen=True)
class Source:
    name: str             # the table name views read
    path: Path            # the user's file
    placement: PurePosixPath  # where the script opens it, relative to its working directory
    format: CsvFormat


def gzipped(path: Path | str) -> bool:
    """Whether the file is gzip-compressed, as pandas and DuckDB decide it: by the ``.gz`` ending."""
    return str(path).lower().endswith(".gz")


def file_suffix(path: Path) -> str:
    """The ending a copy of the file needs to be read the same way: ``.csv.gz`` for ``orders.csv.gz``."""
    return "".join(path.suffixes[-2:]) if gzipped(path) else path.suffix


def _open_text(path: Path | str, **options):
    """The file as text, decompressed when it is gzipped (the csv module itself would read the gzip bytes)."""
    if gzipped(path):
        return gzip.open(path, "rt", **options)
    return open(path, **options)


def _literal(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="duckdb")


def sniff(path: Path, names: list[str] | None = None) -> CsvFormat:
    """The file's delimiter, header and column types as DuckDB detects them (what ``ivm load`` sees).

    ``names`` says the file has no header row and names its columns (what ``ivm load --no-header --columns``
    does); otherwise DuckDB decides, and a header-less file's columns are ``column0``, ``column1``, ...
    """
    con = duckdb.connect()
    options = ", header = false" if names else ""
    try:
        row = con.execute(f"SELECT Delimiter, HasHeader, Columns, DateFormat, TimestampFormat "
                          f"FROM sniff_csv({_literal(str(path))}{options})").fetchall()[0]
    except duckdb.Error as error:
        raise RewriteError(f"cannot read {path} as CSV: {first_line(error)}{_encoding_hint(path)}") from None
    finally:
        con.close()
    delimiter, header, columns, dateformat, tsformat = row
    columns = tuple((c["name"], c["type"]) for c in columns)
    if names:
        if len(names) != len(columns):
            raise RewriteError(f"{path} has {len(columns)} columns, but {len(names)} names are given for it")
        columns = tuple((name, type_) for name, (_, type_) in zip(names, columns))
    found = CsvFormat(delimiter=delimiter, header=bool(header), columns=columns,
                      dateformat=dateformat or None, timestampformat=tsformat or None)
    _check_reads_alike(path, found)
    return found


def _encoding_hint(path: Path) -> str:
    """Why DuckDB may have failed on a file that is not UTF-8 (an export in Latin-1 or Windows-1252): DuckDB
    reads CSV files as UTF-8, and its error names only the line."""
    try:
        data = path.read_bytes()
        (gzip.decompress(data) if gzipped(path) else data).decode("utf-8")
    except UnicodeDecodeError as error:
        return (f" (the file is not UTF-8 text: byte {error.object[error.start]:#x} at offset {error.start}; "
                "convert it, e.g. `iconv -f latin1 -t utf-8`, and pass the converted file)")
    except (OSError, EOFError):  # unreadable, or not gzip after all: DuckDB's own error says enough
        pass
    return ""


def _check_reads_alike(path: Path, fmt: CsvFormat) -> None:
    """DuckDB (the views) and Python's csv module (the script) must see the same rows: a line with more or
    fewer fields than the header makes DuckDB's sniffer pick another dialect (one column, or the longest
    line's width with the other lines dropped) while the script reads the file fine."""
    with _open_text(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = [r for r in csv.reader(handle, delimiter=fmt.delimiter) if r]
    expected = len(rows) - (1 if fmt.header and rows else 0)
    widths = sorted({len(r) for r in rows})
    if len(fmt.columns) == 1 and rows:  # one column: did the sniffer give up on the delimiter of the header?
        likely = next((d for d in (",", ";", "\t") if d != fmt.delimiter and d in fmt.delimiter.join(rows[0])), None)
        if likely is not None:
            widths = sorted({len(line.split(likely)) for line in map(fmt.delimiter.join, rows)})
    con = duckdb.connect()
    try:
        read = con.execute(f"SELECT COUNT(*) FROM {read_call(path, fmt)}").fetchall()[0][0]
    except duckdb.Error as error:
        read = f"an error ({first_line(error)})"
    finally:
        con.close()
    if read != expected or len(widths) > 1:
        shape = f"lines of {' and '.join(map(str, widths))} fields" if len(widths) > 1 else f"{expected} rows"
        below = {len(r) for r in rows[1:]}
        title = len(below) == 1 and len(rows[0]) < min(below)  # one short first line, then a regular table
        cause = ("a title or comment line above the header (the script skips it, e.g. read_csv(skiprows=1)): "
                 "remove it from the file you pass" if title else
                 "a line with more or fewer fields than the header (an unquoted separator inside a value): "
                 "fix or quote it")
        raise RewriteError(f"DuckDB and Python's csv module read {path} differently (delimiter {fmt.delimiter!r}, "
                           f"{len(fmt.columns)} columns: {read} rows against {shape}); likely {cause}")


def read_call(path: Path | str, fmt: CsvFormat) -> str:
    """A ``read_csv`` call reading ``path`` with the format sniffed from the real file."""
    columns = "{" + ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in fmt.columns) + "}"
    options = [f"delim = {_literal(fmt.delimiter)}", f"header = {str(fmt.header).lower()}",
               f"columns = {columns}", "auto_detect = false", "quote = '\"'"]
    if fmt.dateformat:
        options.append(f"dateformat = {_literal(fmt.dateformat)}")
    if fmt.timestampformat:
        options.append(f"timestampformat = {_literal(fmt.timestampformat)}")
    return f"read_csv({_literal(str(path))}, {', '.join(options)})"


def load_table(con: duckdb.DuckDBPyConnection, source: Source, path: Path | str) -> None:
    """Create table ``source.name`` on ``con`` from ``path`` (the real file or a variant of it)."""
    con.execute(f'CREATE OR REPLACE TABLE "{source.name}" AS SELECT * FROM {read_call(path, source.format)}')


def read_rows(source: Source, path: Path | None = None) -> tuple[list[str] | None, list[list[str]]]:
    """The file's header and rows as the strings a ``csv.reader`` sees."""
    with _open_text(path or source.path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter=source.format.delimiter))
    rows = [r for r in rows if r]
    if source.format.header and rows:
        return rows[0], rows[1:]
    return None, rows


def write_rows(path: Path, source: Source, header: list[str] | None, rows: list[list[str]]) -> None:
    """Write rows in the source's format (same delimiter, header or not, minimal quoting, ``\\n`` endings),
    gzip-compressed when ``path`` ends in ``.gz`` (without a timestamp, so a variant's bytes are always the same)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=source.format.delimiter, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped(path) else data)


def describe(source: Source) -> str:
    """How the model sees a source: the table's columns and types, a few rows, and the raw first lines."""
    con = duckdb.connect()
    try:
        load_table(con, source, source.path)
        count = con.execute(f'SELECT COUNT(*) FROM "{source.name}"').fetchall()[0][0]
        sample = con.execute(f'SELECT * FROM "{source.name}" LIMIT {SAMPLE_ROWS}').fetchall()
    finally:
        con.close()
    with _open_text(source.path, encoding="utf-8") as handle:
        raw = [line.rstrip("\n") for _, line in zip(range(SAMPLE_ROWS + 1), handle)]
    lines = [f"table {source.name} ({count} rows), read from the file the script opens as "
             f"'{source.placement}':",
             "  columns: " + ", ".join(f"{n} {t}" for n, t in source.format.columns),
             "  first rows as DuckDB reads them (empty fields are NULL):"]
    lines += [f"    {tuple(row)!r}" for row in sample]
    lines.append("  first lines of the file as the script reads them:")
    lines += [f"    {line}" for line in raw]
    return "\n".join(lines)


def _placement(path: Path, script: Script) -> PurePosixPath:
    """Where the script opens ``path``: relative to the script's folder if it lies there, else as given."""
    script_dir = script.path.resolve().parent
    resolved = path.resolve()
    try:
        return PurePosixPath(resolved.relative_to(script_dir).as_posix())
    except ValueError:
        pass
    if str(resolved) in script.code or (str(path) in script.code and path.is_absolute()):
        raise RewriteError(f"the script opens {path} by its absolute path; make the path relative to the "
                           "script's folder so that it can be run on generated variants of the data")
    matches = {lit for lit in _path_literals(script.code) if PurePosixPath(lit).name == path.name
               and not PurePosixPath(lit).is_absolute() and ".." not in PurePosixPath(lit).parts}
    if len(matches) == 1:
        return PurePosixPath(matches.pop())
    if not path.is_absolute() and ".." not in path.parts:
        return PurePosixPath(path.as_posix())
    return PurePosixPath(path.name)


def _path_literals(code: str) -> set[str]:
    import ast
    return {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and len(n.value) < 300 and "\n" not in n.value}


def _check_supported(path: Path) -> None:
    """Refuse, by the file's name, what is not delimited text (Parquet, Excel, JSON and JSON lines), or is
    compressed other than with gzip: read as CSV, such a file gives a misleading error about its fields."""
    inner = Path(path.stem).suffix.lower() if gzipped(path) else path.suffix.lower()
    if inner in NOT_DELIMITED:
        raise RewriteError(f"source {path}: only delimited text files (CSV, TSV) are supported")
    if path.suffix.lower() in OTHER_COMPRESSION:
        raise RewriteError(f"source {path}: only uncompressed or gzip-compressed (.gz) delimited text files "
                           "(CSV, TSV) are supported; decompress it and pass the CSV file")


def resolve(specs: list[str] | tuple[str, ...], script: Script,
            columns: dict[str, list[str]] | None = None) -> list[Source]:
    """Check ``NAME=PATH`` specs: valid table names, existing CSV files, each placed where the script reads it.

    ``columns`` maps a source name to the column names of a file without a header row."""
    columns = {k.strip().lower(): v for k, v in (columns or {}).items()}
    if not specs:
        raise RewriteError("name the script's input files with --source NAME=PATH (repeatable)")
    sources, names, placements = [], set(), set()
    for spec in specs:
        name, sep, path_text = spec.partition("=")
        name = name.strip().lower()
        if not sep or not path_text:
            raise RewriteError(f"--source expects NAME=PATH, got {spec!r}")
        if not name.replace("_", "a").isalnum() or name[0].isdigit() or name.startswith("__ivm"):
            raise RewriteError(f"--source name {name!r} is not a valid table name (letters, digits and _)")
        if name in names:
            raise RewriteError(f"--source {name} is given twice")
        path = Path(os.path.expanduser(path_text))
        if not path.is_file():
            raise RewriteError(f"source file {path} does not exist")
        _check_supported(path)
        placement = _placement(path, script)
        if placement in placements:
            raise RewriteError(f"two sources would both be placed at {placement}")
        names.add(name)
        placements.add(placement)
        sources.append(Source(name=name, path=path, placement=placement, format=sniff(path, columns.get(name))))
    unknown = sorted(set(columns) - names)
    if unknown:
        raise RewriteError(f"--source-columns names {unknown[0]}, which is not a --source")
    return sources


def column_specs(specs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """``NAME=a,b,c`` specs (``--source-columns``) as a dict of valid, distinct column names per source.

    Example:
        >>> column_specs(["mails=mail_id,email,raw_date"])
        {'mails': ['mail_id', 'email', 'raw_date']}
    """
    result = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        names = [n.strip() for n in text.split(",")]
        if not sep or not all(names):
            raise RewriteError(f"--source-columns expects NAME=COL,COL,...; got {spec!r}")
        if any(not n.replace("_", "a").isalnum() or n[0].isdigit() for n in names):
            raise RewriteError(f"--source-columns {spec!r}: column names are letters, digits and _")
        if len({n.lower() for n in names}) != len(names):
            raise RewriteError(f"--source-columns {spec!r}: a column name is given twice")
        result[name.strip().lower()] = names
    return result
