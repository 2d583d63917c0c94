"""The ``ivm`` command: thin commands, each one call into :class:`ivm.Database`.

User errors print one line to stderr and exit with code 2; nothing is changed.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from ivm import receipt as receipts
from ivm.errors import IvmError, as_interrupt, interrupted
from ivm.progress import terminal_bar
from ivm.store import csv_options
from ivm.store.engine import Database
from ivm.userfile import read_text


def _rows(n: int) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} row" if n == 1 else f"{n} rows"


def _open(db: str, *, create: bool = False) -> Database:
    """Open database file ``db``; only ``ivm load`` creates one (a mistyped path elsewhere is an error, not a
    new empty database that verifies as "ok")."""
    if not db.strip() or db.strip().lower().startswith(":memory:"):
        raise IvmError(f"the command line needs a database file, not {db!r}: each command runs in a process of its "
                       "own, so an in-memory database would be gone when it ends (ivm.connect(':memory:') in Python "
                       "keeps one)")
    if not create and not Path(db).exists():
        raise IvmError(f"database {db} does not exist (`ivm load {db} NAME=PATH` creates it)")
    return Database(db, udfs=click.get_current_context().find_root().params.get("udfs"), set_up=create)


@contextlib.contextmanager
def _only_reading(what: str, *, on_copies: bool = False):
    """Ctrl-C during a command that changes nothing says so, instead of the general "whether the change
    committed is not known" that sends the user to look for a change. ``on_copies``: the command changes
    copies only, so what an inner step says about its change ("the deletion had committed") is about a copy
    and is replaced."""
    try:
        yield
    except BaseException as error:
        if interrupted(error) and (on_copies or not getattr(error, "__notes__", None)):
            if on_copies:
                error = KeyboardInterrupt()
            raise as_interrupt(error, f"{what} stopped; nothing changed") from None
        raise


def _emit(report: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(report, indent=2) if as_json else text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivm")
@click.option("--udfs", type=click.Path(dir_okay=False), default=None, envvar="IVM_UDFS",
              help="Python file with register_udfs(con) for the functions views call (as `ivm rewrite` writes).")
def cli(udfs) -> None:
    """Keep materialised SQL views equal to a full recompute when source rows are deleted."""


@cli.command()
@click.argument("db")
@click.argument("sources", nargs=-1, required=True, metavar="NAME=PATH...")
@click.option("--no-header", is_flag=True, help="CSV files have no header row.")
@click.option("--columns", "column_specs", multiple=True, metavar="NAME=COL,COL,...",
              help="Column names for source NAME (repeatable).")
@click.option("--replace", is_flag=True, help="Reload a source that no view reads yet.")
@click.option("--csv", "csv_specs", multiple=True, metavar="KEY=VALUE",
              help="A DuckDB read_csv option for the CSV files (repeatable), e.g. delim=';' "
                   "decimal_separator=, nullstr=NA dateformat=%d/%m/%Y.")
def load(db, sources, no_header, column_specs, replace, csv_specs):
    """CSV, Parquet, JSON or Arrow IPC / Feather files become source tables in the DuckDB file DB."""
    names = {}
    for spec in column_specs:
        name, _, cols = spec.partition("=")
        if not cols:
            raise IvmError(f"--columns expects NAME=COL,COL,...; got {spec!r}")
        names[name.lower()] = [c.strip() for c in cols.split(",")]
    pairs = []
    for spec in sources:
        name, _, path = spec.partition("=")
        if not path:
            raise IvmError(f"expected NAME=PATH, got {spec!r}")
        pairs.append((name, path))
    csv = dict(csv_options.parse_cli(spec) for spec in csv_specs)  # before the file is opened (or created)
    for name, path in pairs:  # before ivm's bookkeeping is set up in DB (a DuckDB file of the user's, maybe)
        if not Path(path).is_file():
            raise IvmError(f"file {path} does not exist" if not Path(path).exists() else f"{path} is not a file")
    absent = db != ":memory:" and not Path(db).exists()
    created = False  # by this load: another `ivm load` may create the same file between the check and the open
    try:
        with _open(db, create=True) as database:  # (a file another process holds fails here: not ours)
            created = absent and not database.sources and not database.views
            rows = database.load_many(pairs, header=False if no_header else None, columns=names, replace=replace,
                                      csv=csv)
            notes = database.load_notes
    except BaseException:
        if created:  # a failed first load leaves no empty database behind
            for leftover in (Path(db), Path(f"{db}.wal")):
                leftover.unlink(missing_ok=True)
        raise
    for name, path in pairs:
        click.echo(f"loaded {name}: {_rows(rows[name.lower()])} from {path}")
    for note in notes:
        click.echo(f"note: {note}")


@cli.command()
@click.argument("db")
@click.argument("table", required=False)
@click.argument("columns", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the indexes as JSON.")
def index(db, table, columns, as_json):
    """Index source TABLE on COLUMNS, the keys your deletions name (= or IN); without TABLE, list them."""
    with _open(db) as database:
        if table is not None:
            if not columns:
                raise IvmError("name the columns to index: ivm index DB TABLE COLUMN [COLUMN ...]")
            database.index(table, *columns)
        indexes = database.deletion_indexes()
    _emit({"indexes": indexes}, as_json,
          "\n".join(f"{name}: {on}" for name, on in indexes.items()) or "no deletion-key indexes")


@cli.command()
@click.argument("db")
@click.argument("views_file", metavar="VIEWS.sql")
def deploy(db, views_file):
    """Materialise the CREATE VIEW statements in VIEWS.sql and maintain them from now on."""
    path = Path(views_file)
    if not path.is_file():
        raise IvmError(f"file {path} does not exist" if not path.exists() else f"{path} is not a file")
    with _open(db) as database:
        with terminal_bar("deploy") as progress:
            names = database.deploy(read_text(path, "views file"), progress=progress)
        for name in names:
            plan = database.plans[name]
            from ivm.store.engine import strategy_of
            strategy, reason = strategy_of(plan)
            click.echo(f"deployed {name}: {strategy} ({reason})")


@cli.command()
@click.argument("db")
@click.argument("views", nargs=-1, required=True, metavar="VIEW...")
@click.option("--json", "as_json", is_flag=True, help="Print the dropped views as JSON.")
def drop(db, views, as_json):
    """Stop maintaining deployed VIEWs and remove them (their tables, lineage and indexes), in one transaction.

    Refused while another view or a feature set reads one of them: name those views too, or drop them first.
    To redefine a view instead, deploy CREATE OR REPLACE VIEW."""
    with _open(db) as database:
        dropped = database.drop(*views)
    _emit({"dropped": dropped}, as_json, "\n".join(f"dropped {name}" for name in dropped))


@cli.command()
@click.argument("db")
@click.option("--from", "table", required=True, help="Source table to delete from.")
@click.option("--where", "predicate", required=True, help="SQL boolean expression selecting the rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--purge", is_flag=True,
              help="Then rewrite the file so no deleted value survives on disk, and print the erasure receipt.")
@click.option("--strategy", type=click.Choice(["incremental", "auto", "recompute"]), default="incremental",
              show_default=True,
              help="incremental: every view's delta rules; recompute: rebuild every view the deletion reaches; "
                   "auto: rebuild a view when this database measured its incremental maintenance to cost more "
                   "than its rebuild.")
def delete(db, table, predicate, as_json, purge, strategy):
    """Delete source rows and maintain every view, in one transaction."""
    with _open(db) as database:
        report = database.delete(table, predicate, purge=purge, strategy=strategy)
    lines = [f"deleted {_rows(report['deleted_rows'])} from {report['source']} in {report['seconds']:.4f} s"]
    for name, view in report["views"].items():
        if not view["affected"]:
            lines.append(f"  {name}: not affected (reads no rows of {report['source']})")
            continue
        lines.append(f"  {name}: -{view['deleted']} +{view['inserted']} rows, {view['strategy']} "
                     f"({view['reason']}), {view['seconds']:.4f} s")
    for name, fs in report.get("features", {}).items():
        lines.append(f"  feature set {name}: -{fs['rows_removed']} rows; train {fs['train_before']} -> "
                     f"{fs['train_after']}, test {fs['test_before']} -> {fs['test_after']}")
    if purge:
        lines.append(receipts.text_summary(report["receipt"]))
    _emit(report, as_json, "\n".join(lines))
    if purge:
        _judge(report["receipt"])


def _judge(receipt: dict) -> None:
    """Say loudly on stderr, and exit 1, when a receipt does not show a complete erasure."""
    if receipts.failed(receipt):
        click.echo(f"ERASURE INCOMPLETE (receipt {receipt['id']}): {receipts.verdict(receipt)}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
def purge(db, as_json):
    """Rewrite DB into a fresh file holding only live rows (no deleted value survives on disk)."""
    with _open(db) as database:
        receipt = database.purge()
    _emit(receipt, as_json, receipts.text_summary(receipt))
    _judge(receipt)


@cli.command()
@click.argument("db")
@click.argument("receipt_id", metavar="[ID]", required=False, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
def receipt(db, receipt_id, as_json):
    """Print erasure receipt ID (the latest if no ID); exit 1 if it shows deleted values still on disk or
    a purge that never completed."""
    with _only_reading("reading the receipt"), _open(db) as database:
        stored = database.receipt(receipt_id)
    _emit(stored, as_json, receipts.text_summary(stored))
    _judge(stored)


@cli.command()
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def recompute(db, as_json):
    """Recompute every view from the current sources (the baseline)."""
    with _open(db) as database, terminal_bar("recompute") as progress:
        report = database.recompute(progress=progress)
    lines = [f"recomputed {len(report['views'])} views in {report['seconds']:.4f} s"]
    lines += [f"  {n}: {_rows(v['rows'])}, {v['seconds']:.4f} s" for n, v in report["views"].items()]
    _emit(report, as_json, "\n".join(lines))


@cli.command()
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(db, as_json):
    """Exit 0 iff every maintained view equals a fresh full recompute, 1 otherwise."""
    with _only_reading("verify (it only reads)"), _open(db) as database, terminal_bar("verify") as progress:
        report = database.verify(progress=progress)
    lines = [f"{'ok' if v['ok'] else 'MISMATCH'} {n} ({_rows(v['rows'])})"
             + (f": cannot compare with a recompute: {v['error']}" if "error" in v else "")
             for n, v in report["views"].items()]
    _emit(report, as_json, "\n".join(lines) or "no views deployed")
    sys.exit(0 if report["ok"] else 1)


@cli.command()
@click.argument("db")
@click.argument("view", required=False)
def explain(db, view):
    """Show the plan, the maintenance strategy per view and the delta SQL."""
    with _only_reading("explain"), _open(db) as database:
        click.echo(database.explain(view))


@cli.command()
@click.argument("db")
@click.argument("spec_file", metavar="[SPEC.yaml]", required=False)
@click.option("--drop", "drop_name", metavar="NAME", help="Drop feature set NAME (its rows and statistics tables).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def features(db, spec_file, drop_name, as_json):
    """Deploy the feature set in SPEC.yaml (YAML or JSON) over its prep view; without SPEC, list feature sets."""
    from ivm import ml
    from ivm.ml import compile as ml_compile
    from ivm.ml import features as ml_features

    with _open(db) as database:
        if drop_name:
            ml.drop(database, drop_name)
            _emit({"dropped": drop_name}, as_json, f"dropped feature set {drop_name}")
            return
        if spec_file:
            report = ml.deploy(database, ml.load_spec(spec_file))
            udf = "".join(f"; UDF {n} computed for {rows} rows" for n, rows in report["udf_rows"].items())
            text = (f"deployed feature set {report['name']} on {report['from']}: {report['rows']} rows "
                    f"({report['train']} train, {report['test']} test), {len(report['columns'])} columns; "
                    f"lineage from {', '.join(report['lineage'])}{udf}; {report['seconds']:.2f} s")
            _emit(report, as_json, text)
            return
        listing = {}
        for name, fs in ml.sets(database).items():
            train, test = ml_features.counts(database, name)
            listing[name] = {"from": fs.spec.source, "train": train, "test": test,
                             "columns": ml_compile.feature_names(database, fs), "spec": fs.spec.to_dict()}
    lines = [f"{n}: on {v['from']}, {v['train']} train + {v['test']} test rows, {len(v['columns'])} columns"
             for n, v in listing.items()]
    _emit(listing, as_json, "\n".join(lines) or "no feature sets deployed")


@cli.command()
@click.argument("db")
@click.option("--features", "name", required=True, metavar="NAME", help="The feature set to export.")
@click.option("--format", "fmt", required=True, metavar="npy|parquet|arrow",
              help="npy: a folder of .npy arrays; parquet or arrow (IPC file): one table.")
@click.option("--out", required=True, metavar="PATH", help="Folder (npy) or file (parquet, arrow) to write.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export(db, name, fmt, out, as_json):
    """Write a feature set's X, y, split and lineage ids to npy files, Parquet or Arrow."""
    from ivm import ml

    if fmt not in ml.FORMATS:
        raise IvmError(f"unknown format {fmt!r}; formats: {', '.join(ml.FORMATS)}")
    with _only_reading(f"the export (the database is only read, and {out} is written only once complete)"), \
            _open(db) as database:
        report = ml.export(database, name, fmt, out)
    _emit(report, as_json, f"exported {report['name']} to {report['out']} ({fmt}): {report['train']} train + "
                           f"{report['test']} test rows, {report['columns']} columns, {report['seconds']:.3f} s")


@cli.command()
@click.argument("db")
@click.option("--limit", type=click.IntRange(min=0, max=2**62), default=None, help="Only the latest N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the log as JSON.")
def log(db, limit, as_json):
    """Show the audit log: every deletion, with rows removed per source, view and feature set."""
    from ivm import audit

    with _only_reading("reading the log"), _open(db) as database:
        entries = audit.entries(database.con, limit)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
    elif entries or limit != 0:  # --limit 0 shows no entry; it is no sign of an empty log
        click.echo(audit.text(entries))


@cli.command()
@click.argument("db")
@click.option("--from", "table", required=True, help="Source table to delete from.")
@click.option("--where", "predicate", required=True, help="SQL boolean expression selecting the rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def compare(db, table, predicate, as_json):
    """Run a deletion incrementally and as a full rerun on copies of DB; exit 0 iff the results are equal."""
    from ivm import compare_run

    with _only_reading(f"the comparison (it works on copies of {db}, now removed)", on_copies=True):
        report = compare_run.run(db, table, predicate,
                                 udfs=click.get_current_context().find_root().params.get("udfs"))
    lines = [f"deleted {_rows(report['deleted_rows'])} from {report['source']}",
             f"incremental: {report['incremental_seconds']:.4f} s (X and y on demand: export "
             f"{report['export_seconds']:.4f} s)",
             f"full rerun:  {report['recompute_seconds']:.4f} s", f"speedup: {report['speedup']:.1f}x",
             f"equal: {'yes' if report['equal'] else 'NO'}"]
    for name, artifact in report["artifacts"].items():
        state = "equal" if artifact["equal"] else f"DIFFERENT ({artifact.get('difference', 'rows differ')})"
        lines.append(f"  {name} ({artifact['kind']}): {state}, {artifact['rows_removed']} rows removed")
    _emit(report, as_json, "\n".join(lines))
    sys.exit(0 if report["equal"] else 1)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                              "help_option_names": []})
@click.pass_context
def rewrite(ctx):
    """Rewrite a Python pipeline script into DuckDB SQL views verified against it (see ivm rewrite --help)."""
    from rewriter.cli import command  # imported only here: ivm does not depend on the rewriter

    sys.exit(command.main(args=ctx.args, prog_name="ivm rewrite", standalone_mode=False))


@cli.command()
@click.option("--customers", default=20_000, show_default=True, type=click.IntRange(min=10, max=10**8), help="Customers to generate (10 mails each).")
@click.option("--out", "out_dir", default="ivm-demo", show_default=True,
              help="Folder for the data, the rewrite and the database.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the generated data.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (progress still goes to stderr).")
def demo(customers, out_dir, seed, as_json):
    """The credit-card example end to end, offline: rewrite, deploy, delete card mails and their customers,
    compare every artifact with a full rerun."""
    from ivm import demo as scenario

    summary = scenario.run(customers=customers, out=out_dir, seed=seed, progress=True)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        from rich.console import Console

        scenario.render(summary, Console(width=max(Console().width, 110)))
    sys.exit(0 if summary["equal"] else 1)


def _one_line(text: str) -> str:
    """A message on one line: names from the user's files may hold line breaks."""
    return " ".join(str(text).split("\n")).strip()


def _terminate(signum, frame) -> None:
    """SIGTERM (a timeout, a service stop) unwinds like Ctrl-C: transactions roll back, ``compare`` removes
    its copies of the database and the exit message says what happened, instead of dying mid-statement."""
    _Stderr.terminated = True
    raise KeyboardInterrupt


class _Stderr:
    """stderr, less the blank line click writes on an interrupt to end a terminal's ``^C`` echo: after
    SIGTERM there is no ``^C`` to end, and the exit message is one line."""

    terminated = False

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if _Stderr.terminated and text == "\n":
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv=None) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    stderr = sys.stderr
    sys.stderr = _Stderr(stderr)
    try:
        _main(argv)
    finally:
        sys.stderr = stderr


def _main(argv) -> None:
    try:
        try:
            cli.main(args=argv, standalone_mode=False)
        except RecursionError:  # sqlglot's recursive parser on deeply nested input (1,000 ORs)
            raise IvmError("the SQL nests too deeply for ivm's parser (thousands of AND/OR terms?); "
                           "write it shorter, e.g. with IN (...)") from None
    except IvmError as error:
        click.echo(f"error: {_one_line(error)}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Abort) as stop:
        interrupt = stop.__cause__ if isinstance(stop, click.exceptions.Abort) else stop  # click wraps Ctrl-C
        _interrupted(interrupt)
    except click.ClickException as error:
        hint = ""
        if isinstance(error, click.UsageError) and error.ctx is not None:
            hint = f" (see {error.ctx.command_path} --help)"
        click.echo(f"error: {_one_line(error.format_message())}{hint}", err=True)
        sys.exit(2)
    except UnicodeDecodeError as error:  # a file of the user's in another encoding
        click.echo(f"error: a file is not UTF-8 text ({error.reason} at offset {error.start}); save it as UTF-8",
                   err=True)
        sys.exit(2)
    except Exception as error:  # a bug in ivm, not the user's mistake: one line unless asked for the traceback
        if isinstance(error, RuntimeError) and interrupted(error):
            _interrupted(error)
        if os.environ.get("IVM_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off"):
            raise
        message = _one_line(str(error).strip().splitlines()[0]) if str(error).strip() else ""
        if any(words in str(error).lower() for words in ("corrupt database file", "data corruption")):
            click.echo(f"error: the database file is corrupt (DuckDB: {message}); nothing was changed", err=True)
            sys.exit(2)
        click.echo(f"internal error (a bug in ivm; please report it): {type(error).__name__}: {message}; "
                   "a deletion, deploy or load that failed was rolled back. IVM_DEBUG=1 shows the traceback",
                   err=True)
        sys.exit(1)


def _interrupted(interrupt: BaseException | None) -> None:
    """Exit after Ctrl-C / SIGTERM, saying in one line what happened to the change."""
    if interrupt is None or not interrupted(interrupt):
        click.echo("aborted", err=True)
        sys.exit(1)
    notes = "; ".join(getattr(interrupt, "__notes__", [])) or \
        "whether the change committed is not known: `ivm verify` and `ivm log` tell"
    click.echo(f"interrupted: {_one_line(notes)}", err=True)
    sys.exit(130)


if __name__ == "__main__":
    main()
