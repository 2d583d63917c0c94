"""The prompts, as versioned text files (``rewriter/prompts/v1/*.txt``) filled with :class:`string.Template`.

* ``system.txt``: the job, the rules of the answer, and the Python-versus-SQL pitfalls;
* ``task.txt``: the code, the source tables (schema, sample rows, raw lines), the result to reproduce and
  the functions the script defines;
* ``repair.txt``: why the previous answer was rejected (parse error, static check, DuckDB error, or the
  data diff), sent after that answer so the model sees what it wrote.

Changing a prompt's meaning means a new folder (``v2``) and ``VERSION`` pointing at it, so recorded
transcripts and replay files stay tied to the prompts that produced them.
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from rewriter.compare import Table
from rewriter.errors import Problem
from rewriter.sandbox import ResultSpec
from rewriter.script import Script, user_functions
from rewriter.sources import Source, describe

VERSION = "v1"
FOLDER = Path(__file__).parent
SAMPLE_RESULT_ROWS = 8
KIND_LABELS = {
    "answer": "not the JSON object asked for",
    "static": "the SQL failed the static checks",
    "udf": "a udf cannot be used",
    "duckdb": "DuckDB could not run the views",
    "diff": "the views run but their result differs from the script's",
    "deploy": "ivm could not deploy the views",
    "replay": "no further answer",
}


def template(name: str, version: str = VERSION) -> Template:
    """One prompt template by file name, e.g. ``template("task")``."""
    path = FOLDER / version / f"{name}.txt"
    return Template(path.read_text(encoding="utf-8"))


def system_prompt(version: str = VERSION) -> str:
    return template("system", version).substitute()


def task_prompt(script: Script, sources: list[Source], result: Table, spec: ResultSpec,
                version: str = VERSION) -> str:
    """The first user message: everything the model needs to write the views."""
    functions = user_functions(script.code)
    if result.names_known:
        columns_line = "Its columns, in order: " + ", ".join(result.columns) + "."
        if result.unnamed:
            columns_line += (" The script gives no name to " + ", ".join(result.columns[i] for i in result.unnamed)
                             + " (a dict's keys or a Series' values); name that column as you like.")
    else:
        columns_line = (f"It has {len(result.columns)} columns and no column names; name the result view's "
                        "columns as you like, in the same order.")
    if result.by_columns is not None:
        alternative = result.by_columns
        columns_line += (f" The result is a dict of {len(alternative.columns)} equal-length sequences: if its keys "
                         f"({', '.join(alternative.columns)}) are column names, the view may instead return those "
                         f"columns, named exactly like the keys, one row per position "
                         f"({len(alternative.rows)} rows); either reading is accepted.")
    rows = [repr(tuple(r)) for r in result.rows[:SAMPLE_RESULT_ROWS]]
    if len(result.rows) > SAMPLE_RESULT_ROWS:
        rows.append(f"... ({len(result.rows) - SAMPLE_RESULT_ROWS} more)")
    return template("task", version).substitute(
        kind="notebook" if script.kind == "notebook" else "script",
        script_name=script.path.name if script.path else "script.py",
        code=script.code.rstrip(),
        sources="\n\n".join(describe(s) for s in sources),
        result_where=spec.describe(),
        columns_line=columns_line,
        row_count=len(result.rows),
        sample_rows="\n".join(rows) or "(none)",
        functions="\n".join(f"- {f.signature()}" + (f": {f.doc}" if f.doc else "") for f in functions.values())
        or "(none)")


def repair_prompt(problem: Problem, version: str = VERSION) -> str:
    """The message after a rejected answer: the kind of failure and its full description (with the diff)."""
    return template("repair", version).substitute(kind_label=KIND_LABELS.get(problem.kind, problem.kind),
                                                  problem=problem.message)


def first_messages(script: Script, sources: list[Source], result: Table, spec: ResultSpec,
                   version: str = VERSION) -> list[dict]:
    return [{"role": "system", "content": system_prompt(version)},
            {"role": "user", "content": task_prompt(script, sources, result, spec, version)}]
