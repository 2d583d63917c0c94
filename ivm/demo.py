"""``ivm demo``: the credit-card scenario of ``examples/creditcard/`` end to end, offline and in one command.

A bank trains a complaint model on customer e-mails with a messy Python script. Some customers pasted credit
card numbers into mail subjects; those mails, and then those customers, must leave every derived artifact. The
demo runs each stage as a separate function:

1. :func:`generate_data`: seeded customers and mails (a development sample for the rewrite, the full data).
2. :func:`rewrite_pipeline`: ``ivm rewrite`` of ``pipeline.py`` from the bundled replay file, verified against
   the script on the sample and on generated variants of it (the only stage that uses :mod:`rewriter`).
3. :func:`deploy`: load the full data into a DuckDB file and deploy the verified views plus a monitoring view.
4. :func:`build_features`: the feature layer (feature spec, X/y, stable split); pending until ``ivm.ml`` lands.
5. :func:`find_card_mails`: mails whose subject holds a Luhn-valid card number (SQL regex + Luhn check).
6. :func:`delete_step` twice: the card mails, then their customers (and the rest of their mails), each
   maintained incrementally in one transaction per source.
7. :func:`full_rerun` after each step: every view rebuilt with plain DuckDB from the cleaned sources and the
   original script rerun on cleaned CSV files; both compared with the maintained artifacts as bags.

:func:`run` returns the summary that ``ivm demo --json`` prints; :func:`render` prints it as text.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

import ivm
from ivm import compare
from ivm.errors import IvmError
from ivm.store.engine import _udf_registrar, strategy_of

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "creditcard"
COLUMNS = {"customers": ["customer_id", "customer_email", "bank", "country", "level"],
           "mails": ["mail_id", "customer_email", "raw_date", "mail_subject", "mail_text"]}
SAMPLE_CUSTOMERS = 1000
RESULT_VIEW = "training_rows"
SCRIPT_ARTIFACT = "pipeline.py rows"

# A card number: 13-19 digits, optionally grouped by spaces or dashes, that passes the Luhn check.
CARD_MACROS = [
    r"""CREATE OR REPLACE TEMP MACRO ivm_demo_luhn(d) AS length(d) BETWEEN 13 AND 19 AND
        list_sum([v // 10 + v % 10 FOR v IN [CAST(substr(reverse(d), i + 1, 1) AS INTEGER) * (1 + i % 2)
                                            FOR i IN range(length(d))]]) % 10 = 0""",
    r"""CREATE OR REPLACE TEMP MACRO ivm_demo_digit_runs(s) AS
        [regexp_replace(c, '[^0-9]', '', 'g') FOR c IN regexp_extract_all(coalesce(s, ''), '\d(?:[ -]?\d){12,18}')]""",
    r"""CREATE OR REPLACE TEMP MACRO ivm_demo_cards(s) AS [d FOR d IN ivm_demo_digit_runs(s) IF ivm_demo_luhn(d)]""",
]

SCRIPT_RUNNER = """
import json, runpy, sys, time
start = time.perf_counter()
namespace = runpy.run_path("pipeline.py", run_name="__main__")
seconds = time.perf_counter() - start
json.dump(namespace["rows"], open(sys.argv[1], "w"))
print(json.dumps({"seconds": seconds}))
"""
SCRIPT_ROW_TYPES = {"mail_id": "VARCHAR", "customer_id": "BIGINT", "country": "VARCHAR", "level": "VARCHAR",
                    "subject": "VARCHAR", "text": "VARCHAR", "subject_length": "BIGINT", "sentiment": "DOUBLE",
                    "label": "INTEGER"}


def example_dir() -> Path:
    if not (EXAMPLE / "pipeline.py").is_file():
        raise IvmError(f"ivm demo needs examples/creditcard/ of a source checkout (looked in {EXAMPLE}); "
                       "install ivm from a clone with `pip install -e .`")
    return EXAMPLE


def _load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generator():
    """The example's data generator module (``examples/creditcard/generate.py``)."""
    return _load_module(example_dir() / "generate.py", "ivm_creditcard_generate")


# -- 1. data -------------------------------------------------------------------------------------------------
def generate_data(out: Path, customers: int, seed: int) -> dict:
    """The development sample (for the rewrite) and the full data, each with a copy of ``pipeline.py``."""
    gen = generator()
    made = {}
    for name, size in (("sample", min(customers, SAMPLE_CUSTOMERS)), ("data", customers)):
        folder = out / name
        made[name] = gen.generate(folder, customers=size, seed=seed)
        shutil.copy(example_dir() / "pipeline.py", folder / "pipeline.py")
    return made


# -- 2. rewrite ----------------------------------------------------------------------------------------------
def rewrite_command(folder: Path, out: Path) -> list[str]:
    """The ``ivm rewrite`` arguments the demo runs (printed so users can run it themselves)."""
    return ["ivm", "rewrite", str(folder / "pipeline.py"),
            "--source", f"customers={folder / 'customers.csv'}", "--source", f"mails={folder / 'mails.csv'}",
            *[a for name, cols in COLUMNS.items() for a in ("--source-columns", f"{name}={','.join(cols)}")],
            "--result-var", "rows", "--replay", str(example_dir() / "reference.jsonl"), "--out", str(out)]


def rewrite_pipeline(folder: Path, out: Path, echo=lambda line: None) -> dict:
    """``ivm rewrite`` of the sample's ``pipeline.py``, answered by the bundled hand-written reference replay."""
    from rewriter import client, sources as source_files  # the demo is the one place ivm drives the rewriter
    from rewriter.errors import RewriteError
    from rewriter.loop import clear_outputs, run as rewrite_run
    from rewriter.sandbox import Sandbox, check_spec
    from rewriter.script import load_script

    start = time.perf_counter()
    try:
        spec = check_spec("rows", None, None)
        settings = client.settings_from_env("gpt-4o-mini", 120.0, 0, 1.0, 0)
        pipeline = load_script(str(folder / "pipeline.py"))
        sources = source_files.resolve([f"{n}={folder / n}.csv" for n in COLUMNS], pipeline, COLUMNS)
        out.mkdir(parents=True, exist_ok=True)
        clear_outputs(out)
        transcript = client.Transcript(out / "transcript.jsonl")
        endpoint = client.endpoint(replay=str(example_dir() / "reference.jsonl"), record=None, settings=settings,
                                   transcript=transcript)
        sandbox = Sandbox(script=pipeline, sources=tuple(sources), result=spec, timeout=120.0)
        outcome = rewrite_run(script=pipeline, sources=sources, spec=spec, sandbox=sandbox, endpoint=endpoint,
                              transcript=transcript, out=out, max_rounds=1, echo=echo)
    except RewriteError as error:
        raise IvmError(f"the rewrite failed: {error}") from None
    if not outcome.verified:
        lines = outcome.problem.message.splitlines()  # what differs follows the line naming the data set
        raise IvmError(f"the bundled rewrite did not verify: {' '.join(lines[:2])}")
    report = outcome.report
    return {"verified": True, "rounds": outcome.rounds, "seconds": time.perf_counter() - start,
            "answer": "replay of examples/creditcard/reference.jsonl (hand-written reference, not model output)",
            "datasets": [c["dataset"] for c in report["checks"]], "views": report["views"],
            "result_view": report["result_view"], "udfs": [u["name"] for u in report["udfs"]],
            "strategies": report["ivm"], "out": str(out)}


# -- 3. deploy -----------------------------------------------------------------------------------------------
def view_sql(rewrite_dir: Path, monitoring: bool = True) -> str:
    """The verified views, plus (``monitoring``) the view of statistics the model owners watch."""
    views = (rewrite_dir / "views.sql").read_text()
    return views + "\n" + (example_dir() / "monitoring.sql").read_text() if monitoring else views


def deploy(db_path: Path, data: Path, rewrite_dir: Path, monitoring: bool = True) -> tuple[ivm.Database, dict]:
    start = time.perf_counter()
    db = ivm.connect(db_path, udfs=rewrite_dir / "udfs.py")
    rows = {name: db.load(name, data / f"{name}.csv", header=False, columns=cols) for name, cols in COLUMNS.items()}
    loaded = time.perf_counter()
    db.deploy(view_sql(rewrite_dir, monitoring))
    strategies = {}
    for name, plan in db.plans.items():
        strategy, reason = strategy_of(plan)
        strategies[name] = f"{strategy} ({reason})"
    return db, {"sources": rows, "load_seconds": loaded - start, "deploy_seconds": time.perf_counter() - loaded,
                "strategies": strategies}


# -- 4. features ---------------------------------------------------------------------------------------------
FEATURE_SET = "complaints"


def feature_spec():
    """What ``pipeline.py`` computes after its rows, as an :mod:`ivm.ml` feature set over ``training_rows``:
    hashed words of subject and body, the standardised subject length, one-hot country, the label, and a
    stable 80/20 split keyed by each row's source lineage."""
    from ivm import ml

    return ml.feature_spec(FEATURE_SET, RESULT_VIEW, [
        ml.hashed("subject", dims=16), ml.hashed("text", dims=16), ml.standard("subject_length"),
        ml.onehot("country")], label="label", test_fraction=0.2, seed=0)


def build_features(db: ivm.Database) -> dict:
    """Deploy the feature set; its statistics, rows and split are maintained by every deletion from now on."""
    from ivm import ml

    report = ml.deploy(db, feature_spec())
    training = ml.training_set(db, FEATURE_SET)
    return {"name": FEATURE_SET, "rows": report["rows"], "train": report["train"], "test": report["test"],
            "columns": len(report["columns"]), "positives": int(training.y_train.sum() + training.y_test.sum()),
            "seconds": report["seconds"], "export_seconds": training.seconds}


def feature_statistics(db: ivm.Database) -> dict:
    """The statistics the features are computed from: the subject length's mean and population standard
    deviation (standard scaling) and the rows per country (the one-hot columns), read from ``training_rows``."""
    mean, std = db.con.execute(f"SELECT avg(subject_length), stddev_pop(subject_length) FROM {RESULT_VIEW}").fetchall()[0]
    categories = db.con.execute(f"SELECT country, count(*) FROM {RESULT_VIEW} GROUP BY country ORDER BY country")
    return {"subject_length_mean": mean, "subject_length_std": std, "countries": dict(categories.fetchall())}


# -- 5. find -------------------------------------------------------------------------------------------------
def find_card_mails(con: duckdb.DuckDBPyConnection) -> dict:
    """Mails whose subject holds a Luhn-valid card number, and the 13-19 digit runs that fail the check."""
    for macro in CARD_MACROS:
        con.execute(macro)
    rows = con.execute("""
        SELECT mail_id, customer_email, ivm_demo_cards(mail_subject) AS cards,
               len(ivm_demo_digit_runs(mail_subject)) AS runs
        FROM mails WHERE regexp_matches(mail_subject, '\\d{4}')
        ORDER BY mail_id""").fetchall()
    cards = [(m, e, c) for m, e, c, _ in rows if c]
    decoys = sum(runs - len(c) for _, _, c, runs in rows)
    return {"mail_ids": [m for m, _, _ in cards], "customer_emails": sorted({e for _, e, _ in cards}),
            "examples": [mask(c[0]) for _, _, c in cards[:3]], "decoys": decoys}


def mask(number: str) -> str:
    """A card number as a receipt prints it.

    Example:
        >>> mask("4539148803436467")
        '**** **** **** 6467'
    """
    return "**** **** **** " + number[-4:]


def _in_list(column: str, values: list) -> str:
    literals = ", ".join(exp.Literal.string(v).sql() if isinstance(v, str) else str(v) for v in values)
    return f"{column} IN ({literals})"


# -- 6. delete -----------------------------------------------------------------------------------------------
def row_counts(db: ivm.Database) -> dict[str, int]:
    return {name: db.con.execute(f'SELECT COUNT(*) FROM "{name}"').fetchall()[0][0] for name in db.views}


def statistics(db: ivm.Database) -> dict:
    """What model owners watch: rows, positive labels and means per country (from the monitoring view)."""
    rows = db.con.execute("SELECT country, training_rows, positives, mean_subject_length, mean_sentiment "
                          "FROM training_stats ORDER BY country").fetchall()
    return {c: {"rows": n, "positives": p, "mean_subject_length": round(float(length), 4),
                "mean_sentiment": round(float(s), 4)} for c, n, p, length, s in rows}


def delete_step(db: ivm.Database, name: str, deletions: list[tuple[str, str]]) -> dict:
    """Delete from each source in turn (one transaction each) and report what changed in every artifact."""
    before = row_counts(db)
    keys_before = _training_keys(db)
    reports = [db.delete(table, predicate) for table, predicate in deletions]
    after = row_counts(db)
    removed = sorted(keys_before - _training_keys(db))
    views = {}
    for view in db.views:
        views[view] = {"before": before[view], "after": after[view],
                       "deleted": sum(r["views"][view]["deleted"] for r in reports),
                       "inserted": sum(r["views"][view]["inserted"] for r in reports),
                       "strategy": reports[0]["views"][view]["strategy"] if reports else ""}
    features = [r.get("features", {}).get(FEATURE_SET) for r in reports]
    features = [f for f in features if f]
    split = {"train_before": features[0]["train_before"], "test_before": features[0]["test_before"],
             "train_after": features[-1]["train_after"], "test_after": features[-1]["test_after"],
             "rows_removed": sum(f["rows_removed"] for f in features)} if features else None
    from ivm import ml

    training = ml.training_set(db, FEATURE_SET)  # what the model owners train on next
    return {"name": name, "seconds": sum(r["seconds"] for r in reports), "export_seconds": training.seconds,
            "split": split, "training_set": training,
            "source_rows": {r["source"]: r["deleted_rows"] for r in reports},
            "predicates": [f"{t}: {len(p)} characters" for t, p in deletions],
            "views": views, "training_rows_removed": removed}


def _training_keys(db: ivm.Database) -> set[str]:
    return {row[0] for row in db.con.execute(f"SELECT mail_id FROM {RESULT_VIEW}").fetchall()}


# -- 7. full rerun -------------------------------------------------------------------------------------------
def full_rerun(db: ivm.Database, rewrite_dir: Path, work: Path, training) -> dict:
    """Rebuild every artifact from the cleaned sources and compare it with the maintained one, as bags.

    * ``recompute_seconds``: a full rerun of everything stored, in a copy of the database: every view and
      statistic rebuilt, the feature rows, UDF values and split computed again from scratch. X/y are computed
      at export time from the stored artifacts, by the same query on either side (``export_seconds``).
    * ``duckdb_seconds``: the views alone rebuilt with plain DuckDB ``CREATE TABLE AS`` in a fresh connection
      (no lineage, no indexes, no ivm planner): the independent check of every view, and a lower bound.
    * ``script_seconds``: the original ``pipeline.py`` rerun on cleaned CSV files, in a child process; its
      ``rows`` must equal ``training_rows``.
    """
    work.mkdir(parents=True, exist_ok=True)
    plain = plain_rebuild(db, rewrite_dir, work)
    rerun = features_rerun(db, rewrite_dir, work)
    equal = {}
    for view in db.views:
        right = plain["tables"].get(view)
        equal[view] = _equal(db, f'SELECT * FROM "{view}"', right if right is not None else rerun["views"][view])
    equal.update(compare_training_sets(training, rerun["training_set"]))
    shutil.copy(example_dir() / "pipeline.py", work / "pipeline.py")
    script = rerun_script(work)
    equal[SCRIPT_ARTIFACT] = _equal(db, f"SELECT {', '.join(SCRIPT_ROW_TYPES)} FROM {RESULT_VIEW}", script["rows"])
    return {"recompute_seconds": rerun["seconds"], "duckdb_seconds": plain["seconds"],
            "script_seconds": script["seconds"], "equal": equal}


def plain_rebuild(db: ivm.Database, rewrite_dir: Path, work: Path) -> dict:
    """The cleaned sources (also written as CSV files for the script) and every view as a plain table."""
    fresh = duckdb.connect()
    try:
        for name, cols in COLUMNS.items():
            table = db.con.sql(f'SELECT {", ".join(cols)} FROM "{name}"').to_arrow_table()
            fresh.register("__src", table)
            fresh.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __src')
            fresh.unregister("__src")
            db.con.execute(f"""COPY (SELECT {", ".join(cols)} FROM "{name}") TO '{work / name}.csv'
                               (HEADER false, QUOTE '', DELIMITER ',', DATEFORMAT '%Y-%m-%d')""")
        _udf_registrar(rewrite_dir / "udfs.py")(fresh)
        statements = [s for s in sqlglot.parse(view_sql(rewrite_dir), read="duckdb") if s is not None]
        start = time.perf_counter()
        for statement in statements:
            statement.set("kind", "TABLE")
            fresh.execute(statement.sql(dialect="duckdb"))
        seconds = time.perf_counter() - start
        tables = {s.this.name: fresh.sql(f'SELECT * FROM "{s.this.name}"').to_arrow_table() for s in statements}
    finally:
        fresh.close()
    return {"seconds": seconds, "tables": tables}


def features_rerun(db: ivm.Database, rewrite_dir: Path, work: Path) -> dict:
    """A copy of the database with every derived artifact forgotten and computed again from its sources."""
    from ivm import ml
    from ivm.ml import features as ml_features

    db.con.execute("CHECKPOINT")
    copy = work / "rerun.duckdb"
    shutil.copy(db.path, copy)
    with ivm.connect(copy, udfs=rewrite_dir / "udfs.py") as other:
        start = time.perf_counter()
        ml_features.forget_rows(other)  # feature rows, UDF values and split: computed again, not kept
        other.recompute()
        seconds = time.perf_counter() - start
        training = ml.training_set(other, FEATURE_SET)
        views = {v: other.con.sql(f'SELECT * FROM "{v}"').to_arrow_table() for v in other.views}
    copy.unlink()
    return {"seconds": seconds, "training_set": training, "views": views}


def compare_training_sets(left, right) -> dict[str, bool]:
    """X, y and the split of two training sets, row by row in lineage order (floats to a relative 1e-9)."""
    import numpy as np

    def ordered(ts, side):
        ids, x, y = {"train": (ts.ids_train, ts.X_train, ts.y_train), "test": (ts.ids_test, ts.X_test, ts.y_test)}[side]
        order = np.lexsort(ids.T[::-1]) if len(ids) else np.arange(0)
        return ids[order], x[order], y[order]

    result = {f"{FEATURE_SET}: split": True, f"{FEATURE_SET}: X": left.feature_names == right.feature_names,
              f"{FEATURE_SET}: y": True}
    for side in ("train", "test"):
        (li, lx, ly), (ri, rx, ry) = ordered(left, side), ordered(right, side)
        same_rows = li.shape == ri.shape and bool((li == ri).all())
        result[f"{FEATURE_SET}: split"] &= same_rows
        close = lx.shape == rx.shape and bool(np.allclose(lx, rx, rtol=1e-9, atol=1e-12))
        result[f"{FEATURE_SET}: X"] &= same_rows and close
        result[f"{FEATURE_SET}: y"] &= same_rows and ly.shape == ry.shape and bool((ly == ry).all())
    return result


def rerun_script(folder: Path) -> dict:
    """Run ``folder/pipeline.py`` in a child process; its ``rows`` as an Arrow table and its run time."""
    result = (folder / "rows.json").absolute()
    done = subprocess.run([sys.executable, "-c", SCRIPT_RUNNER, str(result)], cwd=folder, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        raise IvmError(f"pipeline.py failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    con = duckdb.connect()
    try:
        if json.loads(result.read_text()):
            columns = "{" + ", ".join(f"'{n}': '{t}'" for n, t in SCRIPT_ROW_TYPES.items()) + "}"
            rows = con.sql(f"SELECT * FROM read_json('{result}', columns = {columns}, format = 'array')")
        else:  # nothing left: an empty table of the right shape
            rows = con.sql("SELECT " + ", ".join(f"NULL::{t} AS {n}" for n, t in SCRIPT_ROW_TYPES.items())
                           + " LIMIT 0")
        return {"seconds": seconds, "rows": rows.to_arrow_table()}
    finally:
        con.close()


def _equal(db: ivm.Database, left_sql: str, right) -> bool:
    db.con.register("__ivm_demo_right", right)
    try:
        return compare.bags_equal(db.con, left_sql, "SELECT * FROM __ivm_demo_right")[0]
    finally:
        db.con.unregister("__ivm_demo_right")


# -- the whole story -----------------------------------------------------------------------------------------
DEFAULT_CUSTOMERS = 20_000
OUR_FILES = ("sample", "data", "rewrite", "rerun", "creditcard.duckdb", "creditcard.duckdb.wal", "summary.json",
             "changed_training_rows.csv")
STAGES = 7


class _Progress:
    """A progress bar over the demo's stages on stderr (rich), or nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description:<58}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("ivm demo", total=STAGES)

    def __enter__(self):
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()

    def note(self, text: str) -> None:
        if self.bar:
            self.bar.update(self.task, description=text[:58])

    @contextmanager
    def stage(self, text: str):
        self.note(text)
        yield
        if self.bar:
            self.bar.advance(self.task)


MARKER = ".ivm-demo"  # written into the output folder: its OUR_FILES are the demo's, to replace


def _earlier_summary(path: Path) -> bool:
    """Whether ``path`` is the summary of a demo run from before the marker existed."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and {"customers", "seed", "out"} <= set(summary)


def _clear(out: Path) -> None:
    """Remove what an earlier demo run left in ``out`` (only the demo's own files, and only where an earlier
    demo left its marker: a folder of the user's named ``data`` is not ours to delete)."""
    present = [name for name in OUR_FILES if (out / name).exists() or (out / name).is_symlink()]
    if present and not (out / MARKER).is_file() and not _earlier_summary(out / "summary.json"):
        raise IvmError(f"{out} already holds {', '.join(present)}, not made by ivm demo; choose another --out "
                       "(the demo replaces these)")
    (out / MARKER).write_text("files of `ivm demo`; the next run replaces them\n")
    for name in OUR_FILES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def run(customers: int = DEFAULT_CUSTOMERS, out: str | os.PathLike = "ivm-demo", seed: int = 0,
        progress: bool = False) -> dict:
    """Run the whole scenario; returns the summary ``ivm demo --json`` prints."""
    if customers < 10:
        raise IvmError("--customers must be at least 10")
    shown, out = str(out), Path(out).absolute()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _clear(out)
    except OSError as error:
        raise IvmError(f"cannot use {out} as the output folder: {error.strerror or error}") from None
    summary: dict = {"customers": customers, "seed": seed, "out": shown}
    with _Progress(progress) as bar:
        with bar.stage(f"generating {customers:,} customers and their mails"):
            made = generate_data(out, customers, seed)
            summary["mails"] = made["data"]["mail_rows"]
        with bar.stage("rewriting pipeline.py (bundled replay, verified)"):
            summary["rewrite"] = rewrite_pipeline(out / "sample", out / "rewrite", echo=bar.note)
            summary["rewrite"]["command"] = " ".join(rewrite_command(out / "sample", out / "rewrite"))
        with bar.stage("loading the data and deploying the views"):
            db, summary["deploy"] = deploy(out / "creditcard.duckdb", out / "data", out / "rewrite")
        try:
            with bar.stage("building features and the training set"):
                summary["features"] = build_features(db)
                rows_before = row_counts(db)
                stats_before = {"per_country": statistics(db), "features": feature_statistics(db)}
            with bar.stage("finding card numbers in mail subjects"):
                found = find_card_mails(db.con)
                summary["found"] = {"card_mails": len(found["mail_ids"]), "customers": len(found["customer_emails"]),
                                    "rejected_by_luhn": found["decoys"], "examples": found["examples"]}
            plan = [("the mails with card numbers", [("mails", _in_list("mail_id", found["mail_ids"]))]),
                    ("their customers and their other mails",
                     [("customers", _in_list("customer_email", found["customer_emails"])),
                      ("mails", _in_list("customer_email", found["customer_emails"]))])]
            summary["steps"] = []
            for number, (name, deletions) in enumerate(plan, start=1):
                with bar.stage(f"step {number}: delete {name}"):
                    step = delete_step(db, name, deletions)
                    bar.note(f"step {number}: full rerun to compare")
                    step["rerun"] = full_rerun(db, out / "rewrite", out / "rerun" / f"step{number}",
                                               step.pop("training_set"))
                    summary["steps"].append(step)
            summary["statistics"] = {"before": stats_before, "after": {"per_country": statistics(db),
                                                                        "features": feature_statistics(db)}}
            rows_after = row_counts(db)
        finally:
            db.close()
    _summarise(summary, rows_before, rows_after)
    _write_outputs(out, summary)
    return summary


def _summarise(summary: dict, rows_before: dict, rows_after: dict) -> None:
    steps = summary["steps"]
    artifacts = {}
    for name in steps[0]["rerun"]["equal"]:
        entry = {"equal": all(s["rerun"]["equal"][name] for s in steps)}
        if name in rows_before:
            entry.update(rows_before=rows_before[name], rows_after=rows_after[name],
                         rows_removed=rows_before[name] - rows_after[name],
                         rows_per_step=[s["views"][name]["after"] for s in steps])
        artifacts[name] = entry
    summary["artifacts"] = artifacts
    summary["training_rows_removed"] = sum(len(s["training_rows_removed"]) for s in steps)
    summary["incremental_seconds"] = sum(s["seconds"] for s in steps)
    summary["recompute_seconds"] = sum(s["rerun"]["recompute_seconds"] for s in steps)
    summary["duckdb_seconds"] = sum(s["rerun"]["duckdb_seconds"] for s in steps)
    summary["script_seconds"] = sum(s["rerun"]["script_seconds"] for s in steps)
    summary["speedup"] = summary["recompute_seconds"] / summary["incremental_seconds"]
    summary["split"] = [s["split"] for s in steps]
    summary["equal"] = all(a["equal"] for a in artifacts.values())


def _write_outputs(out: Path, summary: dict) -> None:
    lines = ["mail_id,step"] + [f"{key},{number}" for number, step in enumerate(summary["steps"], start=1)
                                for key in step["training_rows_removed"]]
    (out / "changed_training_rows.csv").write_text("\n".join(lines) + "\n")
    for step in summary["steps"]:  # the full list is in the CSV file; the summary keeps the count and a few
        removed = step["training_rows_removed"]
        step["training_rows_removed"] = {"count": len(removed), "first": removed[:3]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def render(summary: dict, console) -> None:
    """Print the summary as text with rich tables."""
    from rich.table import Table

    steps = summary["steps"]
    rewrite = summary["rewrite"]
    console.print(f"[bold]ivm demo[/]: {summary['customers']:,} customers, {summary['mails']:,} mails "
                  f"(seed {summary['seed']}), files in {summary['out']}/")
    console.print(f"rewrite: pipeline.py -> {len(rewrite['views'])} views + UDF {', '.join(rewrite['udfs'])}, "
                  f"verified against the script on {len(rewrite['datasets'])} data sets "
                  f"({rewrite['seconds']:.1f} s; answer: {rewrite['answer']})")
    console.print(f"deploy: {summary['deploy']['sources']['customers']:,} customers, "
                  f"{summary['deploy']['sources']['mails']:,} mails loaded in "
                  f"{summary['deploy']['load_seconds']:.2f} s; views built in "
                  f"{summary['deploy']['deploy_seconds']:.2f} s")
    for name, strategy in summary["deploy"]["strategies"].items():
        console.print(f"  {name}: {strategy}")
    found = summary["found"]
    console.print(f"found: {found['card_mails']} mails with a card number in the subject "
                  f"({', '.join(found['examples'])}, ...) from {found['customers']} customers; "
                  f"{found['rejected_by_luhn']} other 13-19 digit numbers fail the Luhn check and stay")
    features = summary["features"]
    console.print(f"features: feature set {features['name']} over {RESULT_VIEW}: {features['columns']} columns "
                  f"(hashed subject and text, standardised subject length, one-hot country), label = negative "
                  f"sentiment and premium; {features['train']:,} train / {features['test']:,} test rows "
                  f"(stable split keyed by lineage)")
    for number, step in enumerate(steps, start=1):
        sources = ", ".join(f"{n} rows from {t}" for t, n in step["source_rows"].items())
        split = step["split"]
        console.print(f"step {number}: delete {step['name']}: deleted {sources}; "
                      f"{step['training_rows_removed']['count']} training rows removed "
                      f"(ids in changed_training_rows.csv); split {split['train_before']:,}/{split['test_before']:,}"
                      f" -> {split['train_after']:,}/{split['test_after']:,} train/test")

    table = Table(title="What changed in each artifact")
    for header in ["artifact", "rows before", *[f"after step {i}" for i in range(1, len(steps) + 1)], "removed",
                   "equal to full rerun"]:
        table.add_column(header, justify="left" if header == "artifact" else "right")
    for name, a in summary["artifacts"].items():
        counts = [f"{a['rows_before']:,}", *[f"{n:,}" for n in a["rows_per_step"]], f"{a['rows_removed']:,}"] \
            if "rows_before" in a else ["", *["" for _ in steps], ""]
        table.add_row(name, *counts, "[green]true[/]" if a["equal"] else "[red]FALSE[/]")
    console.print(table)

    def moved(old, new) -> str:
        old, new = (f"{v:.4f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else f"{v}"
                    for v in (old, new))
        return old if old == new else f"{old} -> [bold]{new}[/]"

    stats = Table(title="Statistics that moved (training_stats, per country)")
    for header in ["country", "training rows", "positives", "mean subject length", "mean sentiment"]:
        stats.add_column(header, justify="left" if header == "country" else "right")
    before, after = summary["statistics"]["before"], summary["statistics"]["after"]
    for country in sorted(set(before["per_country"]) | set(after["per_country"])):
        b, a = before["per_country"].get(country, {}), after["per_country"].get(country, {})
        stats.add_row(country, *[moved(b.get(k), a.get(k)) for k in
                                 ["rows", "positives", "mean_subject_length", "mean_sentiment"]])
    console.print(stats)
    fb, fa = before["features"], after["features"]
    countries = ", ".join(f"{c} {moved(n, fa['countries'].get(c, 0))}" for c, n in fb["countries"].items())
    mean = moved(fb["subject_length_mean"], fa["subject_length_mean"])
    std = moved(fb["subject_length_std"], fa["subject_length_std"])
    console.print(f"feature statistics: subject length mean {mean}, std {std}; one-hot rows per country {countries}")

    times = Table(title="Incremental maintenance vs full rerun (seconds)")
    for header in ["step", "incremental (ivm)", "full rerun (ivm)", "views only (plain DuckDB)",
                   "rerun pipeline.py", "speedup vs full rerun", "vs pipeline.py"]:
        times.add_column(header, justify="left" if header == "step" else "right")
    for number, step in enumerate(steps, start=1):
        inc, rerun = step["seconds"], step["rerun"]
        times.add_row(f"step {number}", f"{inc:.3f}", f"{rerun['recompute_seconds']:.3f}",
                      f"{rerun['duckdb_seconds']:.3f}", f"{rerun['script_seconds']:.3f}",
                      f"{rerun['recompute_seconds'] / inc:.0f}x", f"{rerun['script_seconds'] / inc:.0f}x")
    console.print(times)
    export = sum(step["export_seconds"] for step in steps) / len(steps)
    console.print("incremental = the deletions: sources, views, statistics, feature rows, split and audit log, one "
                  "transaction per source; full rerun = all of it recomputed from the cleaned sources in a copy of "
                  f"the database. Exporting X/y afterwards is the same query either way ({export:.3f} s here).")
    verdict = "[green]true for every artifact[/]" if summary["equal"] else "[red]FALSE for some artifact[/]"
    console.print(f"equal to a full rerun: {verdict}")
