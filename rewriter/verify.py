"""Verification by differential execution: the original script and the SQL views run on the same data.

:class:`Oracle` runs the original once per data set (the real files and every generated variant, in parallel
child processes) and keeps the results; answers in later repair rounds, and the mutation tests, are checked
against the same oracle without running the script again.

:func:`verify` runs a :class:`~rewriter.static.Candidate`'s views in a fresh in-memory DuckDB per data set
(sources loaded with the real file's format, the user's functions registered, external access switched off
and a timeout) and compares the result view with the original's result as multisets. :func:`deploy_check`
then deploys the views with ivm itself, as a user would.
"""
from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from rewriter import udfs as udf_module
from rewriter.compare import Table, diff
from rewriter.errors import Problem, RewriteError, first_line
from rewriter.sandbox import ResultMissing, Sandbox, ScriptFailed
from rewriter.script import literals
from rewriter.sources import Source, load_table
from rewriter.static import Candidate
from rewriter.variants import variants


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: dict
    expected: Table | None
    skipped: str | None = None
    seconds: float = 0.0


@dataclass
class Oracle:
    """The original script's result on the real data and on each generated variant."""

    sources: list[Source]
    datasets: list[Dataset]
    folder: tempfile.TemporaryDirectory = field(repr=False)

    @property
    def base(self) -> Dataset:
        return self.datasets[0]

    @property
    def usable(self) -> list[Dataset]:
        return [d for d in self.datasets if d.expected is not None]

    def close(self) -> None:
        self.folder.cleanup()

    def __enter__(self) -> "Oracle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @classmethod
    def build(cls, sandbox: Sandbox, *, seed: int = 0, use_variants: bool = True, workers: int | None = None,
              on_progress=None) -> "Oracle":
        """Run the original on the real files (a failure there is the user's problem: :class:`RewriteError`),
        then on every variant (a failure there only skips that variant)."""
        sources = list(sandbox.sources)
        try:
            table, seconds = sandbox.run()
        except ResultMissing as error:
            raise RewriteError(error.reason) from None
        except ScriptFailed as error:
            raise RewriteError(f"the script fails on its own, before any rewriting: {error.reason}") from None
        base = Dataset("real data", "the source files as given", {s.name: s.path for s in sources}, table,
                       seconds=seconds)
        if on_progress:
            on_progress(base)
        folder = tempfile.TemporaryDirectory(prefix="ivm-rewrite-data-")
        generated = variants(sources, literals(sandbox.script.code), seed) if use_variants else []
        prepared = [(v, v.write(Path(folder.name), sources)) for v in generated]

        def run(item) -> Dataset:
            variant, files = item
            try:
                result, took = sandbox.run(files)
            except ScriptFailed as error:
                return Dataset(variant.name, variant.description, files, None, skipped=error.reason)
            return Dataset(variant.name, variant.description, files, result, seconds=took)

        workers = workers or max(2, min(4, os.cpu_count() or 2))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(run, prepared))
        if on_progress:
            for dataset in done:
                on_progress(dataset)
        return cls(sources=sources, datasets=[base, *done], folder=folder)


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


def run_views(candidate: Candidate, sources: list[Source], files: dict, udfs: dict | None,
              timeout: float = 30.0) -> Table:
    """The candidate's result view on one data set, in a fresh in-memory DuckDB."""
    con = duckdb.connect(":memory:")
    timer = threading.Timer(timeout, con.interrupt)
    try:
        for source in sources:
            load_table(con, source, files[source.name])
        udf_module.register(con, udfs)
        con.execute("SET enable_external_access = false")
        timer.start()
        for statement in candidate.statements():
            con.execute(statement)
        relation = con.execute(f'SELECT * FROM "{candidate.result_view}"')
        columns = tuple(d[0] for d in relation.description)
        rows = [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in relation.fetchall()]
        return Table(columns=columns, rows=rows, names_known=True)
    except udf_module.UdfProblem as error:
        raise Problem("udf", str(error)) from None
    except duckdb.InterruptException:
        raise Problem("duckdb", f"the views did not finish within {timeout:g} s (a join without a proper "
                                "condition?)") from None
    except duckdb.Error as error:
        raise Problem("duckdb", f"DuckDB error: {first_line(error)}") from None
    finally:
        timer.cancel()
        con.close()


def verify(candidate: Candidate, oracle: Oracle, *, timeout: float = 30.0) -> list[Check]:
    """Run the views on every usable data set; raises a :class:`Problem` describing the first mismatch
    (kind ``diff``) or error (``duckdb``, ``udf``), else returns the checks (all ok)."""
    try:
        udfs = udf_module.load(candidate.udfs_py)
    except udf_module.UdfProblem as error:
        raise Problem("udf", str(error)) from None
    checks, failures = [], []
    for dataset in oracle.usable:
        try:
            result = run_views(candidate, oracle.sources, dataset.files, udfs, timeout)
        except Problem as problem:
            if dataset is oracle.base:
                raise
            problem.dataset = dataset.name
            raise Problem(problem.kind, f"on generated variant {dataset.name!r} ({dataset.description}), "
                                        f"which the original script handles: {problem.message}",
                          dataset=dataset.name) from None
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
        problem = Problem("diff", message, dataset=dataset.name)
        problem.checks = checks
        raise problem
    return checks


def deploy_check(candidate: Candidate, sources: list[Source]) -> dict[str, str]:
    """Deploy the views with ivm on the real data, as a user would; returns each view's maintenance strategy."""
    import ivm
    from ivm.store.engine import strategy_of

    try:
        udfs = udf_module.load(candidate.udfs_py)
    except udf_module.UdfProblem as error:
        raise Problem("udf", str(error)) from None
    with ivm.connect(":memory:") as db:
        try:
            db.load_many([(s.name, str(s.path)) for s in sources])
        except ivm.IvmError as error:
            raise RewriteError(f"ivm cannot load the sources: {error}") from None
        udf_module.register(db.con, udfs)
        try:
            db.deploy(candidate.views_sql)
        except ivm.IvmError as error:
            raise Problem("deploy", f"ivm cannot deploy the views: {error}") from None
        return {name: "{} ({})".format(*strategy_of(plan)) for name, plan in db.plans.items()}
