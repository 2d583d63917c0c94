"""The bounded repair loop: ask, check, verify, and send what went wrong back, up to ``max_rounds`` times.

Every round's answer goes through the same gate: JSON shape (:mod:`rewriter.answer`), static checks
(:mod:`rewriter.static`), differential execution on the real data and its variants (:mod:`rewriter.verify`),
and an ivm deployment. The first answer through the gate is *verified*: ``views.sql``, ``udfs.py`` (when there
are UDFs) and ``report.json`` are written to the output folder. If no answer gets through, the outcome is
*unverified*: the last attempt and its problem go to ``OUT/unverified/`` and nothing is presented as done.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rewriter import prompts
from rewriter.answer import parse_answer
from rewriter.client import Endpoint, ReplayExhausted, Transcript
from rewriter.errors import Problem
from rewriter.sandbox import ResultSpec, Sandbox
from rewriter.script import Script
from rewriter.sources import Source
from rewriter.static import Candidate, check
from rewriter.verify import Oracle, deploy_check, verify, verify_maintained

RESULT_FILES = ("views.sql", "udfs.py", "report.json")


@dataclass
class Outcome:
    verified: bool
    rounds: int
    report: dict
    candidate: Candidate | None = None
    problem: Problem | None = None
    written: list[Path] = field(default_factory=list)


def clear_outputs(out: Path) -> None:
    """Remove a previous run's results from ``out`` and ``out/unverified`` (only the files this tool writes:
    anything else the user keeps there stays)."""
    for folder in (out, out / "unverified"):
        for name in RESULT_FILES:
            (folder / name).unlink(missing_ok=True)
    try:
        (out / "unverified").rmdir()  # only when nothing else is in it
    except OSError:
        pass


def write_atomically(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write all ``files`` into ``folder`` or none of them: staged in a temporary folder, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        written = []
        for name in files:
            os.replace(staging / name, folder / name)
            written.append(folder / name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def repair_loop(*, script: Script, sources: list[Source], spec: ResultSpec, oracle: Oracle, endpoint: Endpoint,
                transcript: Transcript, max_rounds: int = 3, sql_timeout: float = 30.0,
                echo: Callable[[str], None] = lambda line: None) -> tuple[Candidate | None, Problem | None, int, list, dict]:
    """Run rounds until an answer is verified or ``max_rounds`` is used up.

    Returns ``(candidate, problem, rounds, history, checks)``: ``problem`` is None when ``candidate`` is verified.
    """
    messages = prompts.first_messages(script, sources, oracle.base.expected, spec)
    candidate, problem, history, checks = None, None, [], {}
    rounds = 0
    for round_number in range(1, max_rounds + 1):
        echo(f"round {round_number}: asking {endpoint.description}")
        try:
            content = endpoint.complete(messages, round_number)
        except ReplayExhausted as error:
            if problem is None:
                problem = Problem("replay", str(error))
            history.append({"round": round_number, "ok": False, "kind": "replay", "problem": str(error)})
            echo(f"round {round_number}: {error}")
            break
        rounds = round_number
        attempt = None
        try:
            answer = parse_answer(content)
            attempt = check(answer, script, sources)
            checks = {"datasets": [c.as_dict() for c in verify(attempt, oracle, timeout=sql_timeout)]}
            deployment = deploy_check(attempt, sources)
            checks["ivm"] = deployment.strategies
            maintained = verify_maintained(deployment, oracle, timeout=sql_timeout)
            if maintained is not None:
                checks["datasets"] = [c.as_dict() for c in maintained]
        except Problem as rejected:
            candidate = attempt or candidate
            problem = rejected
            history.append({"round": round_number, "ok": False, "kind": rejected.kind, "dataset": rejected.dataset,
                            "problem": rejected.message})
            transcript.write({"type": "check", "round": round_number, "ok": False, "kind": rejected.kind,
                              "dataset": rejected.dataset, "problem": rejected.message})
            echo(f"round {round_number}: rejected ({prompts.KIND_LABELS.get(rejected.kind, rejected.kind)}): "
                 + " ".join(rejected.message.splitlines()[:2]))
            messages = [*messages, {"role": "assistant", "content": content},
                        {"role": "user", "content": prompts.repair_prompt(rejected)}]
            continue
        history.append({"round": round_number, "ok": True})
        transcript.write({"type": "check", "round": round_number, "ok": True, "checks": checks})
        echo(f"round {round_number}: verified on {len(checks['datasets'])} data sets")
        return attempt, None, rounds, history, checks
    return candidate, problem, rounds, history, checks


def report(*, verified: bool, script: Script, sources: list[Source], spec: ResultSpec, oracle: Oracle,
           endpoint: Endpoint, rounds: int, history: list, checks: dict, candidate: Candidate | None,
           problem: Problem | None) -> dict:
    return {
        "status": "verified" if verified else "unverified",
        "script": str(script.path),
        "sources": {s.name: {"path": str(s.path), "opened_as": str(s.placement),
                             "columns": dict(s.format.columns)} for s in sources},
        "result": {"variable": spec.variable, "file": spec.file, "columns": list(oracle.base.expected.columns),
                   "rows": len(oracle.base.expected.rows)},
        "endpoint": endpoint.description,
        "prompt_version": prompts.VERSION,
        "rounds": rounds,
        "history": history,
        "result_view": candidate.result_view if candidate else None,
        "views": [v.name for v in candidate.views] if candidate else [],
        "udfs": [{"name": u.name, "params": list(u.params), "returns": u.returns} for u in candidate.udfs]
        if candidate else [],
        "notes": candidate.notes if candidate else "",
        "checks": checks.get("datasets", []),
        "skipped_variants": [{"dataset": d.name, "reason": d.skipped} for d in oracle.datasets if d.skipped],
        "ivm": checks.get("ivm", {}),
        **({"problem": {"kind": problem.kind, "dataset": problem.dataset, "message": problem.message}}
           if problem else {}),
    }


def write_outcome(out: Path, verified: bool, candidate: Candidate | None, data: dict) -> list[Path]:
    files = {"report.json": json.dumps(data, indent=2, default=str) + "\n"}
    if candidate is not None:
        files["views.sql"] = candidate.views_sql
        if candidate.udfs_py:
            files["udfs.py"] = candidate.udfs_py
    return write_atomically(out if verified else out / "unverified", files)


def run(*, script: Script, sources: list[Source], spec: ResultSpec, sandbox: Sandbox, endpoint: Endpoint,
        transcript: Transcript, out: Path, max_rounds: int, seed: int = 0, use_variants: bool = True,
        sql_timeout: float = 30.0, echo: Callable[[str], None] = lambda line: None) -> Outcome:
    """The whole rewrite after the inputs are checked: oracle, repair loop, output files."""
    with Oracle.build(sandbox, seed=seed, use_variants=use_variants) as oracle:
        base = oracle.base
        echo(f"original on real data: {len(base.expected.rows)} rows, columns {', '.join(base.expected.columns)} "
             f"({base.seconds:.2f} s); runs on generated variants started")
        candidate, problem, rounds, history, checks = repair_loop(
            script=script, sources=sources, spec=spec, oracle=oracle, endpoint=endpoint, transcript=transcript,
            max_rounds=max_rounds, sql_timeout=sql_timeout, echo=echo)
        if rounds:
            echo(f"data sets: {', '.join(d.name for d in oracle.usable)}"
                 + "".join(f"; skipped {d.name} ({'' if d.not_comparable else 'the original fails: '}{d.skipped})"
                           for d in oracle.datasets if d.skipped))
        verified = problem is None and candidate is not None
        data = report(verified=verified, script=script, sources=sources, spec=spec, oracle=oracle,
                      endpoint=endpoint, rounds=rounds, history=history, checks=checks, candidate=candidate,
                      problem=problem)
    written = write_outcome(out, verified, candidate, data)
    return Outcome(verified=verified, rounds=rounds, report=data, candidate=candidate, problem=problem,
                   written=written)
