"""Shared pieces of the rewriter tests: a tiny pipeline with right and wrong answers, and an in-process runner
for ``ivm rewrite``."""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ivm.cli import main as ivm_main

TINY_SCRIPT = '''\
import csv

names = {}
for row in csv.DictReader(open("customers.csv")):
    names[row["id"]] = row["name"]

result = []
for row in csv.DictReader(open("orders.csv")):
    if float(row["amount"] or 0) >= 5:
        result.append((int(row["order_id"]), names.get(row["customer_id"], "?"), float(row["amount"])))
'''
CUSTOMERS = "id,name\n1,Ann\n2,Bob\n3,Cem\n"
ORDERS = "order_id,customer_id,amount\n10,1,5\n11,2,7.5\n12,9,30\n13,1,12\n14,3,4.99\n"

CORRECT_VIEWS = [
    "CREATE VIEW customer_names AS SELECT DISTINCT id, name FROM customers",
    "CREATE VIEW big_orders AS SELECT o.order_id, CASE WHEN c.id IS NULL THEN '?' ELSE c.name END AS name, o.amount "
    "FROM orders AS o LEFT JOIN customer_names AS c ON c.id = o.customer_id WHERE coalesce(o.amount, 0) >= 5",
]
INNER_JOIN_VIEWS = [CORRECT_VIEWS[0], CORRECT_VIEWS[1].replace("LEFT JOIN", "JOIN")]


def answer(views: list[str] = CORRECT_VIEWS, result_view: str = "big_orders", **extra) -> str:
    return json.dumps({"views": views, "result_view": result_view, "udfs": [], "notes": "test", **extra})


CORRECT = answer()
INNER_JOIN = answer(INNER_JOIN_VIEWS)


def write_tiny(folder: Path) -> Path:
    """The tiny pipeline in ``folder``; returns the script's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text(CUSTOMERS)
    (folder / "orders.csv").write_text(ORDERS)
    script = folder / "pipeline.py"
    script.write_text(TINY_SCRIPT)
    return script


def tiny_args(folder: Path, out: Path, *extra: str) -> list[str]:
    return ["rewrite", str(folder / "pipeline.py"), "--source", f"customers={folder / 'customers.csv'}",
            "--source", f"orders={folder / 'orders.csv'}", "--result-var", "result", "--out", str(out), *extra]


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_ivm(args: list[str]) -> Run:
    """``ivm ARGS`` in this process (exit code, stdout, stderr); far cheaper than a subprocess."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            ivm_main(args)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return Run(code, stdout.getvalue(), stderr.getvalue())


def transcript(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "transcript.jsonl").read_text().splitlines()]
