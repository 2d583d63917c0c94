"""Run the user's original script in a child process, on the real data or on a generated variant of it.

Each run gets a fresh temporary working copy: the script (a notebook becomes a ``.py`` of its code cells), the
other ``.py`` files beside it (local helper modules), the folders beside it that it imports as packages, and
the source files at the paths the script opens.
The child runs ``rewriter/_runner.py`` with a timeout and its own process group, so a hung script and
everything it started are killed. On POSIX a fork server imports the script's libraries (pandas, NumPy) once
and forks a fresh child per run. The result is a :class:`~rewriter.compare.Table`.
"""
from __future__ import annotations

import ast
import csv
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from rewriter.compare import Table, decode
from rewriter.errors import RewriteError, first_line
from rewriter.script import Script
from rewriter.sources import Source

RUNNER = Path(__file__).with_name("_runner.py")


@dataclass(frozen=True)
class ResultSpec:
    """Where the script leaves its result: a variable at the end, or a file it writes."""

    variable: str | None = None
    file: str | None = None
    columns: tuple[str, ...] | None = None

    def describe(self) -> str:
        return f"the variable {self.variable}" if self.variable else f"the file {self.file} that the script writes"


class ScriptFailed(Exception):
    """The original script failed on a data set; ``reason`` is one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ResultMissing(ScriptFailed):
    """The script ran but its result is not where the user said."""


# Libraries a fork server may import before forking: the standard library and these, whose import starts no
# threads (a thread pool created before fork() does not survive in the child).
PRELOADABLE = {"pandas", "numpy", "scipy", "dateutil", "pytz"}


def _env() -> dict:
    return {**os.environ, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}


def _imported_modules(code: str) -> set[str]:
    """The absolute module names ``code`` imports (``helpers.cleaning`` for ``from helpers.cleaning import f``)."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def local_packages(script: Script) -> list[Path]:
    """Folders beside the script that it (or a module beside it) imports as packages (``from helpers.cleaning
    import f`` with ``helpers/cleaning.py``): the working copy needs them, as it needs the sibling modules."""
    if script.path is None:
        return []
    folder = script.path.resolve().parent
    codes = [script.code]
    for sibling in folder.glob("*.py"):
        try:
            codes.append(sibling.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    imported = set()
    for code in codes:
        try:
            imported |= {name.split(".")[0] for name in _imported_modules(code)}
        except SyntaxError:
            continue
    return sorted(folder / name for name in imported if (folder / name).is_dir())


def preloadable_imports(script: Script) -> list[str]:
    """Modules the script imports that a fork server can import once for all runs."""
    local = {p.stem for p in script.path.resolve().parent.glob("*.py")} | \
        {p.name for p in script.path.resolve().parent.iterdir() if p.is_dir()} if script.path else set()
    names = _imported_modules(script.code)
    return sorted(n for n in names if n.split(".")[0] not in local and n != "__future__"
                  and (n.split(".")[0] in PRELOADABLE or n.split(".")[0] in sys.stdlib_module_names))


class _ForkServer:
    """A child Python that has imported the script's libraries and forks one process per run (POSIX only):
    a pandas script then pays for ``import pandas`` once, not once per data set."""

    def __init__(self, modules: list[str]):
        self.process = subprocess.Popen([sys.executable, str(RUNNER), "--serve", ",".join(modules)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, env=_env(), start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        if self._next(120) != {"ready": True}:
            self.close()
            raise OSError("the fork server did not start")

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def _next(self, timeout: float | None):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def run(self, request: dict, timeout: float) -> int | None:
        """Exit code of one run, or None when it was killed for running past ``timeout``."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        started = self._next(30)
        if not isinstance(started, dict) or "pid" not in started:
            raise OSError("the fork server stopped")
        ended = self._next(timeout)
        if ended == "timeout":
            try:
                os.killpg(started["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._next(30)
            return None
        if not isinstance(ended, dict):
            raise OSError("the fork server stopped")
        return ended["status"]

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            _kill(self.process)


class Sandbox:
    """Runs the original script; thread-safe, so variants can run in parallel. Close it when done."""

    def __init__(self, script: Script, sources: tuple[Source, ...], result: ResultSpec, timeout: float = 60.0,
                 fork: bool | None = None):
        self.script = script
        self.sources = tuple(sources)
        self.result = result
        self.timeout = timeout
        self.fork = hasattr(os, "fork") if fork is None else fork
        self._modules = preloadable_imports(script) if self.fork else []
        self._packages = local_packages(script)
        self._idle: list[_ForkServer] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            servers, self._idle = self._idle, []
        for server in servers:
            server.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, files: dict[str, Path] | None = None) -> tuple[Table, float]:
        """Run the script on ``files`` (source name to file; default the real files); returns its result
        and the seconds it took, or raises :class:`ScriptFailed`."""
        files = files or {s.name: s.path for s in self.sources}
        with tempfile.TemporaryDirectory(prefix="ivm-rewrite-run-") as tmp:
            work = Path(tmp)
            script_copy = self._prepare(work, files)
            out, log = work / ".ivm_result.json", work / ".ivm_output.log"
            mode, target = ("var", self.result.variable) if self.result.variable else ("file", self.result.file)
            start = time.perf_counter()
            code = self._execute(work, script_copy, mode, target, out, log)
            if code is None:
                raise ScriptFailed(f"the script did not finish within {self.timeout:g} s")
            seconds = time.perf_counter() - start
            payload = _read_json(out)
            if code == 1 and payload and "error" in payload:
                where = f" (line {payload['line']})" if payload.get("line") else ""
                raise ScriptFailed(f"{payload['error']}{where}")
            if code == 3 and payload and "missing" in payload:
                names = ", ".join(payload["variables"]) or "none"
                raise ResultMissing(f"the script defines no variable {payload['missing']!r} at the end; "
                                    f"its variables: {names}")
            if code == 3 and payload and "shape" in payload:
                raise ResultMissing(f"the result variable {target} is not a table ({payload['shape']}); name "
                                    f"a variable holding the data with --result-var, or the file the script writes with "
                                    f"--result-file PATH")
            if code != 0 or payload is None:
                output = log.read_text(errors="replace").strip() if log.exists() else ""
                tail = first_line(output.splitlines()[-1]) if output else f"exit status {code}"
                raise ScriptFailed(f"the script crashed: {tail}")
            table = self._table(payload, work)
        return table, seconds

    def _execute(self, work: Path, script: Path, mode: str, target: str, out: Path, log: Path) -> int | None:
        """Exit code of one run (via a fork server when possible), None after a timeout."""
        if self.fork:
            try:
                with self._lock:
                    server = self._idle.pop() if self._idle else None
                server = server or _ForkServer(self._modules)
                code = server.run({"cwd": str(work), "script": str(script), "mode": mode, "target": target,
                                   "out": str(out), "log": str(log)}, self.timeout)
                with self._lock:
                    self._idle.append(server)
                return code
            except OSError:
                self.fork = False  # fall back to one process per run
        with open(log, "w") as output:
            process = subprocess.Popen([sys.executable, str(RUNNER), str(script), mode, target, str(out)],
                                       cwd=work, env=_env(), stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                return process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                return None

    def _prepare(self, work: Path, files: dict[str, Path]) -> Path:
        folder = self.script.path.resolve().parent
        for sibling in folder.glob("*.py"):
            if sibling.resolve() != self.script.path.resolve():
                shutil.copy2(sibling, work / sibling.name)
        for package in self._packages:
            shutil.copytree(package, work / package.name, ignore=shutil.ignore_patterns("__pycache__"))
        name = self.script.path.name if self.script.kind == "script" else self.script.path.stem + ".py"
        script_copy = work / name
        script_copy.write_text(self.script.code, encoding="utf-8")
        for source in self.sources:
            target = work / source.placement
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(files[source.name], target)
        return script_copy

    def _table(self, payload: dict, work: Path) -> Table:
        if self.result.variable:
            columns = payload["columns"]
            rows = [tuple(decode(v) for v in row) for row in payload["rows"]]
            names_known = payload["names_known"]
        else:
            columns, rows = read_result_file(work / self.result.file, self.result.columns)
            names_known = True
        unnamed = ()
        if isinstance(names_known, list):  # some names are the runner's own (see _runner.tabulate)
            unnamed, names_known = tuple(i for i, known in enumerate(names_known) if not known), True
        if self.result.columns and "by_columns" in payload \
                and [c.lower() for c in self.result.columns] == [c.lower() for c in payload["by_columns"]["columns"]]:
            columns = payload["by_columns"]["columns"]  # --columns names the dict's keys: it is a dict of columns
            rows = [tuple(decode(v) for v in row) for row in payload["by_columns"]["rows"]]
        if self.result.columns:
            if rows and len(self.result.columns) != len(columns):
                raise ResultMissing(f"--columns names {len(self.result.columns)} columns but the result has "
                                    f"{len(columns)}")
            columns, names_known, unnamed = list(self.result.columns), True, ()
        by_columns = None
        if self.result.variable and "by_columns" in payload and not self.result.columns:
            by_columns = Table(columns=tuple(payload["by_columns"]["columns"]), names_known=True,
                               rows=[tuple(decode(v) for v in row) for row in payload["by_columns"]["rows"]])
        return Table(columns=tuple(columns), rows=rows, names_known=names_known, unnamed=unnamed,
                     by_columns=by_columns)


PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")


def read_result_file(path: Path, names: tuple[str, ...] | None) -> tuple[list[str], list[tuple]]:
    """The rows of a CSV (as strings) or Parquet file the script wrote, without the unnamed index pandas
    writes by default (``to_csv`` without ``index=False``: a first column with an empty header; ``to_parquet``:
    ``__index_level_0__``), which holds row positions, as the runner drops it from a DataFrame variable."""
    if not path.is_file():
        raise ResultMissing(f"the script did not write the result file {path.name}")
    if path.suffix.lower() in (".parquet", ".pq"):
        con = duckdb.connect()
        try:
            relation = con.execute(f"SELECT * FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')")
            columns, rows = [d[0] for d in relation.description], relation.fetchall()
        finally:
            con.close()
        keep = [i for i, c in enumerate(columns) if not PANDAS_INDEX.match(c)]
        return [columns[i] for i in keep], [tuple(r[i] for i in keep) for r in rows]
    text = path.read_text(encoding="utf-8")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = [tuple(r) for r in csv.reader(text.splitlines(), delimiter=delimiter) if r]
    if not rows:
        return list(names or []), []
    if names and [c.strip().lower() for c in rows[0]] != [n.lower() for n in names]:
        return list(names), _decimal_points(rows, delimiter)  # no header line
    header, rows = list(rows[0]), rows[1:]
    if not names and _data_not_header(header):
        raise ResultMissing(f"the first line of the result file {path.name} ({', '.join(header[:4])}) looks like "
                            "data, not a header: if the script writes it without one (to_csv(header=False)), "
                            "name its columns with --columns a,b,...")
    if len(header) > 1 and header[0] == "" and all(header[1:]) and (not names or len(names) == len(header) - 1):
        header, rows = header[1:], [r[1:] for r in rows]  # pandas' unnamed index
    return header, _decimal_points(rows, delimiter)


NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def _data_not_header(header: list[str]) -> bool:
    """Whether a result file's first line is a row of data (``10,13.5`` from ``to_csv(header=False)``):
    numbers only, one of them not an integer or one twice (column names are distinct). Integers alone may be
    names (a pivot by year writes ``2023,2024``), and decimals beside a name too (``k,0.25,0.75`` from
    quantiles unstacked); a line of data with text in it is left to the comparison, whose column names then
    differ.

    Example:
        >>> _data_not_header(["10", "13.5"]), _data_not_header(["2023", "2024"]), _data_not_header(["3", "3"])
        (True, False, True)
        >>> _data_not_header(["k", "0.25", "0.75"])
        False
    """
    fields = [f.strip() for f in header]
    if not fields or not all(NUMBER.match(f) for f in fields):
        return False
    return any(not f.lstrip("+-").isdigit() for f in fields) or len(set(fields)) < len(fields)


DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?([eE][+-]?\d+)?$")


def _decimal_points(rows: list[tuple], delimiter: str) -> list[tuple]:
    """Numbers written with a decimal comma (``to_csv(sep=';', decimal=',')``) with a decimal point instead, in
    columns where every non-empty value is such a number; only in files not separated by commas.

    Example:
        >>> _decimal_points([("a", "9,45", "1,5"), ("b", "-3", "x")], ";")
        [('a', '9.45', '1,5'), ('b', '-3', 'x')]
    """
    if delimiter == "," or not rows:
        return rows
    width = max(len(r) for r in rows)
    columns = [i for i in range(width)
               if all(DECIMAL_COMMA.match(r[i].strip()) for r in rows if i < len(r) and r[i].strip())
               and any("," in r[i] for r in rows if i < len(r))]
    if not columns:
        return rows
    return [tuple(v.replace(",", ".") if i in columns else v for i, v in enumerate(r)) for r in rows]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def check_spec(variable: str | None, file: str | None, columns: str | None) -> ResultSpec:
    """Validate ``--result-var`` / ``--result-file`` / ``--columns``."""
    if bool(variable) == bool(file):
        raise RewriteError("say where the script's result is: --result-var NAME (a variable at the end) "
                           "or --result-file PATH (a file it writes), exactly one of them")
    if variable and not variable.isidentifier():
        raise RewriteError(f"--result-var {variable!r} is not a Python variable name")
    if file and (Path(file).is_absolute() or ".." in Path(file).parts):
        raise RewriteError(f"--result-file {file} must be relative to the script's working directory")
    names = tuple(c.strip() for c in columns.split(",")) if columns else None
    if names and (not all(names) or len({n.lower() for n in names}) != len(names)):
        raise RewriteError(f"--columns {columns!r} must be distinct, non-empty names separated by commas")
    return ResultSpec(variable=variable, file=file, columns=names)
