"""``ivm rewrite``: the command, as a click command that ``ivm.cli`` loads only when it is invoked."""
from __future__ import annotations

from pathlib import Path

import click

from rewriter import client, sources as source_files
from rewriter.errors import RewriteError
from rewriter.loop import clear_outputs, run
from rewriter.sandbox import Sandbox, check_spec
from rewriter.script import load_script

EXIT_VERIFIED, EXIT_UNVERIFIED = 0, 1


@click.command(name="rewrite", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("script", metavar="SCRIPT")
@click.option("--source", "source_specs", multiple=True, metavar="NAME=PATH",
              help="An input file of the script, as table NAME (repeatable).")
@click.option("--source-columns", "column_specs", multiple=True, metavar="NAME=COL,COL,...",
              help="Source NAME has no header row; these are its column names (repeatable).")
@click.option("--result-var", metavar="NAME", help="Variable holding the result when the script ends "
                                                   "(DataFrame, list of tuples, NumPy array, dict).")
@click.option("--result-file", metavar="PATH", help="CSV (or Parquet) file the script writes its result to.")
@click.option("--columns", metavar="a,b,c", help="Result column names, when the script gives none.")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder for views.sql, udfs.py, report.json and transcript.jsonl.")
@click.option("--model", default="gpt-4o-mini", show_default=True, help="Chat model to ask.")
@click.option("--max-rounds", default=3, show_default=True, type=click.IntRange(1, 20),
              help="Answers to try, the first one included.")
@click.option("--replay", metavar="FILE", help="Answer from a JSON Lines file of responses instead of a live model.")
@click.option("--record", metavar="FILE", help="Also write the live responses to FILE, for --replay later.")
@click.option("--timeout", default=120.0, show_default=True, type=float, help="Seconds per model request.")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0, 10),
              help="Retries after a rate limit, server error, timeout or refused connection.")
@click.option("--backoff", default=1.0, show_default=True, type=float,
              help="Seconds before the first retry; doubles each time.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the model and for generated data.")
@click.option("--script-timeout", default=60.0, show_default=True, type=float,
              help="Seconds the original script may run on one data set.")
@click.option("--no-variants", is_flag=True, help="Verify on the real data only (weaker).")
def command(script, source_specs, column_specs, result_var, result_file, columns, out_dir, model, max_rounds,
            replay, record, timeout, retries, backoff, seed, script_timeout, no_variants):
    """Rewrite a Python pipeline SCRIPT (.py or .ipynb) into DuckDB SQL views, verified against the script.

    The model's views are checked statically, then run next to the original script on the real data and on
    generated variants of it; mismatches go back to the model, up to --max-rounds. Exit 0: verified, files in
    --out. Exit 1: unverified, the last attempt in OUT/unverified/. Exit 2: bad input or no usable endpoint.
    """
    spec = check_spec(result_var, result_file, columns)
    settings = client.settings_from_env(model, timeout, retries, backoff, seed)
    if not replay and not settings.api_key:
        client.endpoint(replay=None, record=record, settings=settings, transcript=client.Transcript(None))
    pipeline = load_script(script)
    sources = source_files.resolve(list(source_specs), pipeline, source_files.column_specs(column_specs))
    out = Path(out_dir)
    transcript = client.Transcript(None)  # until the output folder is cleared: a bad --replay changes nothing
    endpoint = client.endpoint(replay=replay, record=record, settings=settings, transcript=transcript)
    try:
        out.mkdir(parents=True, exist_ok=True)
        clear_outputs(out)
        transcript = client.Transcript(out / "transcript.jsonl")
    except OSError as error:
        raise RewriteError(f"cannot use {out} as the output folder: {error.strerror or error}") from None
    endpoint.transcript = transcript
    if hasattr(endpoint, "inner"):  # a Recorder around the live endpoint
        endpoint.inner.transcript = transcript
    sandbox = Sandbox(script=pipeline, sources=tuple(sources), result=spec, timeout=script_timeout)
    outcome = run(script=pipeline, sources=sources, spec=spec, sandbox=sandbox, endpoint=endpoint,
                  transcript=transcript, out=out, max_rounds=max_rounds, seed=seed, use_variants=not no_variants,
                  echo=click.echo)
    if outcome.verified:
        click.echo(f"verified in {outcome.rounds} round(s): wrote " + ", ".join(str(p) for p in outcome.written))
        return EXIT_VERIFIED
    problem = outcome.problem
    click.echo(f"unverified after {outcome.rounds} round(s); nothing was written to {out} as a result "
               f"(last attempt in {out / 'unverified'})", err=True)
    if problem is not None:
        click.echo(f"last problem ({problem.kind}): {problem.message}", err=True)
    return EXIT_UNVERIFIED
