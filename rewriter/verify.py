"""Verification by differential execution: the original script and the SQL views run on the same data.

:class:`Oracle` runs the original once per data set (the real files and every generated variant, in parallel
child processes; a variant also with its rows reversed, to skip it where the script's answer depends on row
order) and keeps the results; answers in later repair rounds, and the mutation tests, are checked
against the same oracle without running the script again.

:func:`verify` runs a :class:`~rewriter.static.Candidate`'s views on every data set in the oracle's in-memory
DuckDB (a schema per data set, sources loaded once with the real file's format, external access switched off
once the data is in; per check the user's functions registered, the views created inside a transaction that is
rolled back, a timeout per data set) and compares the result view with the original's result as multisets.
:func:`deploy_check` then deploys the views with ivm itself, as a user would, and :func:`verify_maintained`
verifies them again as ivm maintains them where ivm decides ties in their ORDER BY.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from rewriter import udfs as udf_module
from rewriter.compare import Table, diff, same_result
from rewriter.errors import Problem, RewriteError, first_line
from rewriter.sandbox import ResultMissing, Sandbox, ScriptFailed
from rewriter.script import literals
from rewriter.sources import Source, load_table
from rewriter.static import Candidate
from rewriter.variants import Variant, column_parts, variants


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: dict
    expected: Table | None
    skipped: str | None = None
    seconds: float = 0.0
    # skipped because no fixed SQL could match the original here (its result depends on the order of the rows,
    # or its columns on the data), not because it failed: ``skipped`` then says why in full
    not_comparable: bool = False


class Oracle:
    """The original script's result on the real data and on each generated variant.

    :meth:`build` runs the script on the real data at once (the prompt shows that result) and starts the
    variant runs in the background, so they overlap with the first model request; :attr:`datasets` waits
    for them.
    """

    def __init__(self, sources: list[Source], base: Dataset, pending: list, folder, pool=None, sandbox=None):
        self.sources = sources
        self._sandbox = sandbox
        self.base = base
        self._pending = pending
        self._done: list[Dataset] | None = None if pending else []
        self._folder = folder
        self._pool = pool
        self._session = None

    def session(self) -> "_Session":
        """The DuckDB session with every usable data set loaded (built on first use)."""
        if self._session is None:
            self._session = _Session(self.sources, self.usable)
        return self._session

    @property
    def datasets(self) -> list[Dataset]:
        if self._done is None:
            self._done = [dataset for future in self._pending for dataset in future.result()]
            if self._sandbox is not None:
                self._sandbox.close()  # no more runs of the original
        return [self.base, *self._done]

    @property
    def usable(self) -> list[Dataset]:
        return [d for d in self.datasets if d.expected is not None]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._sandbox is not None:
            self._sandbox.close()
        if self._session is not None:
            self._session.close()
        if self._folder is not None:
            self._folder.cleanup()

    def __enter__(self) -> "Oracle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @classmethod
    def build(cls, sandbox: Sandbox, *, seed: int = 0, use_variants: bool = True,
              workers: int | None = None) -> "Oracle":
        """Run the original on the real files (a failure there is the user's problem: :class:`RewriteError`),
        then start it on every variant (a failure there only skips that variant). The oracle owns
        ``sandbox`` from now on and closes it."""
        sources = list(sandbox.sources)
        try:
            table, seconds = sandbox.run()
        except ResultMissing as error:
            sandbox.close()
            raise RewriteError(error.reason) from None
        except ScriptFailed as error:
            sandbox.close()
            raise RewriteError(f"the script fails on its own, before any rewriting: {error.reason}"
                               f"{_missing_file_hint(error.reason)}") from None
        base = Dataset("real data", "the source files as given", {s.name: s.path for s in sources}, table,
                       seconds=seconds)
        if not use_variants:
            sandbox.close()
            return cls(sources, base, [], None)
        folder = tempfile.TemporaryDirectory(prefix="ivm-rewrite-data-")
        generated = variants(sources, literals(sandbox.script.code), seed)
        prepared = [(v, v.write(Path(folder.name), sources)) for v in generated]

        def run(item) -> list[Dataset]:
            variant, files = item
            try:
                result, took = sandbox.run(files)
            except ScriptFailed as error:  # its changes column by column still test the rewrite
                parts = [run((part, part.write(Path(folder.name), sources))) for part in column_parts(variant, sources)]
                return [Dataset(variant.name, variant.description, files, None, skipped=error.reason),
                        *(d for found in parts for d in found if d.expected is not None)]
            if _other_columns(table, result):
                return [Dataset(variant.name, variant.description, files, None, not_comparable=True,
                                skipped=f"the original's columns depend on the data: here it gives "
                                        f"{', '.join(result.columns)}, on the real data {', '.join(table.columns)}")]
            if _order_dependent(sandbox, variant, sources, Path(folder.name), result):
                return [Dataset(variant.name, variant.description, files, None, not_comparable=True,
                                skipped="the original's result depends on the order of the rows here: with the "
                                        "rows in reverse order it differs, so no SQL can be held to either")]
            return [Dataset(variant.name, variant.description, files, result, seconds=took)]

        pool = ThreadPoolExecutor(max_workers=workers or max(2, min(4, os.cpu_count() or 2)))
        return cls(sources, base, [pool.submit(run, item) for item in prepared], folder, pool, sandbox)


def _other_columns(real: Table, variant: Table) -> bool:
    """Whether the original names other columns on a variant than on the real data: a ``pivot_table`` makes a
    column of each value it finds, so a variant that recases or drops the values changes them, and no SQL
    with fixed columns can match both."""
    if not (real.names_known and variant.names_known):
        return False
    return [c.lower() for c in real.columns] != [c.lower() for c in variant.columns]


def _order_dependent(sandbox: Sandbox, variant: Variant, sources: list[Source], folder: Path, result: Table) -> bool:
    """Whether the original gives another result on ``variant`` with each source's rows in reverse order.

    Generated data puts many rows on the same boundary value, and a script that sorts by it and keeps the
    first or last row of each key (``sort_values("updated").drop_duplicates("sku", keep="last")``), or numbers
    rows in that order, then picks among tied rows by their place in the file: no SQL answer matches that
    for every order, and a right rewrite would be rejected. Such a variant tests nothing, and is skipped. A
    script that fails only on the reversed rows counts as not dependent (the variant is kept)."""
    backwards = Variant(f"{variant.name}:reversed", variant.description,
                        {name: (header, rows[::-1]) for name, (header, rows) in variant.tables.items()})
    if backwards.tables == variant.tables:
        return False
    try:
        again, _ = sandbox.run(backwards.write(folder, sources))
    except ScriptFailed:
        return False
    return not same_result(result, again)


MISSING_FILE = re.compile(r"FileNotFoundError: .*?'([^']+)'")
DELIMITED_SUFFIXES = ("", ".csv", ".tsv", ".txt", ".dat", ".psv")


def _missing_file_hint(reason: str) -> str:
    """What to do about a file the script could not open in the working copy: a data file is passed with
    --source, which takes delimited text only; any other file (a config.json) is not copied at all.

    Example:
        >>> _missing_file_hint("FileNotFoundError: [Errno 2] No such file or directory: 'config.json' (line 3)")[:59]
        ' (the script runs in a temporary folder holding only the --'
    """
    found = MISSING_FILE.search(reason)
    if found is None:
        return ""
    where = ("the script runs in a temporary folder holding only the --source files (at the paths it opens), "
             "the .py files beside it and the package folders it imports")
    if Path(found.group(1)).suffix.lower() in DELIMITED_SUFFIXES:
        return f" ({where}: pass every data file it reads with --source)"
    return (f" ({where}; --source takes delimited text files (CSV, TSV) only, so put what the script reads "
            f"from {Path(found.group(1)).name} into the script itself, or into a .py module beside it)")


@dataclass(frozen=True)
class Check:
    dataset: str
    ok: bool
    rows_original: int
    rows_sql: int | None
    diff: str | None = None

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "ok": self.ok, "rows_original": self.rows_original,
                "rows_sql": self.rows_sql, **({"diff": self.diff} if self.diff else {})}


class _Session:
    """One in-memory DuckDB holding every data set in its own schema (``d0``, ``d1``, ...), loaded once, with
    external access switched off once the data is in. Each :meth:`check` registers the candidate's UDFs,
    creates its views in every data set's schema, reads the result view, and drops it all again."""

    def __init__(self, sources: list[Source], datasets: list[Dataset]):
        self.con = duckdb.connect(":memory:")
        self.schemas = {}
        self.lock = threading.Lock()
        try:
            for number, dataset in enumerate(datasets):
                schema = f"d{number}"
                self.con.execute(f"CREATE SCHEMA {schema}")
                self.con.execute(f"USE {schema}")
                for source in sources:
                    load_table(self.con, source, dataset.files[source.name])
                self.schemas[dataset.name] = schema
            self.con.execute("SET enable_external_access = false")
        except BaseException:
            self.con.close()
            raise

    def results(self, candidate: Candidate, datasets: list[Dataset], udfs: dict | None, timeout: float):
        """Yield (dataset, result table or Problem) for each data set, in order."""
        with self.lock:
            try:
                udf_module.register(self.con, udfs)
            except udf_module.UdfProblem as error:
                self._remove_udfs(candidate)
                raise Problem("udf", str(error)) from None
            try:
                for dataset in datasets:
                    try:
                        yield dataset, self._run(candidate, dataset, timeout)
                    except Problem as problem:
                        yield dataset, problem
            finally:
                self._remove_udfs(candidate)

    def _run(self, candidate: Candidate, dataset: Dataset, timeout: float) -> Table:
        timer = threading.Timer(timeout, self.con.interrupt)
        timer.start()
        self.con.execute(f"USE {self.schemas[dataset.name]}")
        self.con.execute("BEGIN TRANSACTION")  # rolled back below: the views leave no trace
        try:
            for statement in candidate.statements:
                self.con.execute(statement)
            relation = self.con.execute(f'SELECT * FROM "{candidate.result_view}"')
            columns = tuple(d[0] for d in relation.description)
            rows = [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in relation.fetchall()]
            return Table(columns=columns, rows=rows, names_known=True)
        except duckdb.InterruptException:
            raise Problem("duckdb", f"the views did not finish within {timeout:g} s (a join without a proper "
                                    "condition?)") from None
        except duckdb.Error as error:
            raise Problem("duckdb", f"DuckDB error: {first_line(error)}") from None
        finally:
            timer.cancel()
            self.con.execute("ROLLBACK")

    def _remove_udfs(self, candidate: Candidate) -> None:
        for udf in candidate.udfs:
            try:
                self.con.remove_function(udf.name)
            except duckdb.Error:
                pass

    def close(self) -> None:
        self.con.close()


def run_views(candidate: Candidate, sources: list[Source], files: dict, timeout: float = 30.0) -> Table:
    """The candidate's result view on one data set (source name to file), in a fresh in-memory DuckDB."""
    dataset = Dataset("data", "", files, None)
    try:
        udfs = udf_module.load(candidate.udfs_py)
    except udf_module.UdfProblem as error:
        raise Problem("udf", str(error)) from None
    session = _Session(sources, [dataset])
    try:
        for _, result in session.results(candidate, [dataset], udfs, timeout):
            if isinstance(result, Problem):
                raise result
            return result
    finally:
        session.close()


def verify(candidate: Candidate, oracle: Oracle, *, timeout: float = 30.0) -> list[Check]:
    """Run the views on every usable data set; raises a :class:`Problem` describing the first mismatch
    (kind ``diff``) or error (``duckdb``, ``udf``), else returns the checks (all ok)."""
    try:
        udfs = udf_module.load(candidate.udfs_py)
    except udf_module.UdfProblem as error:
        raise Problem("udf", str(error)) from None
    checks, failures = [], []
    for dataset, result in oracle.session().results(candidate, oracle.usable, udfs, timeout):
        if isinstance(result, Problem):
            if dataset is oracle.base:
                raise result
            raise Problem(result.kind, f"on generated variant {dataset.name!r} ({dataset.description}), "
                                       f"which the original script handles: {result.message}",
                          dataset=dataset.name)
        difference = diff(dataset.expected, result)
        checks.append(Check(dataset.name, difference is None, len(dataset.expected.rows), len(result.rows),
                            difference.text() if difference else None))
        if difference is not None:
            failures.append((dataset, difference))
    if failures:
        dataset, difference = failures[0]
        if dataset is oracle.base:
            where = "on the real data"
        else:
            matched = [c.dataset for c in checks if c.ok]
            where = (f"on generated variant {dataset.name!r} ({dataset.description})"
                     + (f"; it matches on {', '.join(matched)}" if matched else ""))
        others = [d.name for d, _ in failures[1:]]
        message = (f"the result differs from the original script's {where}:\n{difference.text()}"
                   + (f"\nit also differs on: {', '.join(others)}" if others else ""))
        raise Problem("diff", message, dataset=dataset.name)
    return checks


@dataclass(frozen=True)
class Deployment:
    """What ivm made of a candidate: each view's maintenance strategy, and the candidate as ivm maintains it
    (the same, except that views whose ORDER BY leaves ties carry the keys ivm adds to decide between tied
    rows: ``ivm/plan/ties.py``)."""

    strategies: dict[str, str]
    maintained: Candidate
    tie_broken: tuple[str, ...] = ()  # names of the views ivm refines


def deploy_check(candidate: Candidate, sources: list[Source]) -> Deployment:
    """Deploy the views with ivm on the real data, as a user would."""
    import ivm
    from ivm.store.engine import strategy_of

    try:
        udfs = udf_module.load(candidate.udfs_py)
    except udf_module.UdfProblem as error:
        raise Problem("udf", str(error)) from None
    with ivm.connect(":memory:") as db:
        try:
            for s in sources:  # with the sniffed header and names (given ones for header-less files)
                db.load(s.name, str(s.path), header=s.format.header, columns=s.format.names)
        except ivm.IvmError as error:
            raise RewriteError(f"ivm cannot load the sources: {error}") from None
        udf_module.register(db.con, udfs)
        try:
            db.deploy(candidate.views_sql)
        except ivm.IvmError as error:
            raise Problem("deploy", f"ivm cannot deploy the views: {error}") from None
        strategies = {name: "{} ({})".format(*strategy_of(plan)) for name, plan in db.plans.items()}
        refined = {name.lower(): plan.tie_broken for name, plan in db.plans.items() if plan.tie_broken}
    if not refined:
        return Deployment(strategies, candidate)
    statements = tuple(f'CREATE VIEW "{view.name}" AS\n{refined[view.name.lower()]}'
                       if view.name.lower() in refined else statement
                       for view, statement in zip(candidate.views, candidate.statements, strict=True))
    names = tuple(view.name for view in candidate.views if view.name.lower() in refined)
    return Deployment(strategies, dataclasses.replace(candidate, statements=statements), names)


def verify_maintained(deployment: Deployment, oracle: Oracle, *, timeout: float = 30.0) -> list[Check] | None:
    """Verify the views again as ivm maintains them, when it refined the order of some (None otherwise).

    DuckDB breaks ties in an ORDER BY by whichever row it meets first, which on the small real files is file
    order and so often matches pandas (``nlargest`` keeps the first of equal rows); ivm keeps one fixed answer
    instead. A view verified only as written would then give the user other rows than the script."""
    if not deployment.tie_broken:
        return None
    try:
        return verify(deployment.maintained, oracle, timeout=timeout)
    except Problem as problem:
        views = ", ".join(deployment.tie_broken)
        if problem.kind != "diff":  # in ivm's text of the views, not the model's
            raise Problem(problem.kind, f"running {views} as ivm maintains them (with keys it adds to their ORDER "
                                        f"BY to decide ties) failed: {problem.message}", dataset=problem.dataset) from None
        raise Problem("diff", f"the ORDER BY of {views} leaves ties between rows, and which of the tied rows "
                              "the view keeps decides its result. ivm maintains one fixed answer, breaking "
                              "ties by the other output columns (its text: "
                              + "; ".join(s.split("\n", 1)[1] for s, v in zip(deployment.maintained.statements,
                                                                              deployment.maintained.views)
                                          if v.name in deployment.tie_broken)
                              + "), and that answer differs from the script's. Make the order unique: add "
                              "the columns that decide between tied rows as the script does (for pandas' "
                              "keep='first' or a stable sort, the column that follows the file's row order, "
                              f"such as an id).\n{problem.message}", dataset=problem.dataset) from None
