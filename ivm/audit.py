"""The audit log: one row per deletion request, written inside the deletion's own transaction.

A request whose predicate matches no row is recorded too (0 rows removed): the log answers "what was asked
and what did it remove", and "nothing" is an answer.

Each entry says when, from which source, with which predicate, how many rows left the source, every view
(rows deleted and inserted) and every feature set (rows removed, train/test counts before and after), and how
long it took. It commits or rolls back with the deletion, so the log never claims a deletion that did not
happen, nor misses one that did.

The predicate is stored with its literals replaced by ``?`` (``email = ?``), as in erasure receipts: the
values that selected a person are the personal data being erased, and the log must not keep them (a purge
would find them and report the erasure incomplete).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlglot import exp

from ivm import receipt as receipts
from ivm.errors import IvmError
from ivm.sql import INTERNAL_SCHEMA

LOG = f'"{INTERNAL_SCHEMA}"."__audit"'
SETUP = f"CREATE TABLE IF NOT EXISTS {LOG} (id BIGINT, \"at\" TIMESTAMP, source VARCHAR, predicate VARCHAR, " \
        "literals_redacted INTEGER, rows_removed BIGINT, seconds DOUBLE, detail VARCHAR)"


def ensure(con) -> None:
    con.execute(SETUP)


def record(con, source: str, predicate: exp.Expression, rows_removed: int, views: dict, features: dict,
           seconds: float, entry_id: int | None = None) -> int:
    """Append one entry (inside the caller's transaction); returns its id. ``entry_id``: the id the caller
    knows to be next (it holds the database's only writer and saw the last entry committed), which saves
    reading the log's largest id in every deletion."""
    shape, literals = receipts.redacted(predicate)
    # seconds and rebuilt: the history delete(strategy="auto") estimates incremental costs from (costs.py)
    detail = {"views": {n: {"deleted": v["deleted"], "inserted": v["inserted"], "seconds": round(v["seconds"], 6),
                            "rebuilt": v["rebuilt"]} for n, v in views.items()},
              "features": features}
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    if entry_id is None:
        entry_id = int(con.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {LOG}").fetchall()[0][0])
    con.execute(f"INSERT INTO {LOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [entry_id, at, source, shape, literals, rows_removed, seconds, json.dumps(detail)])
    return entry_id


def entries(con, limit: int | None = None) -> list[dict]:
    """The log, oldest first (the latest ``limit`` entries if given)."""
    query = f"SELECT id, \"at\", source, predicate, literals_redacted, rows_removed, seconds, detail FROM {LOG} " \
            "ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit is not None else "")
    if limit is not None and int(limit) < 0:
        raise IvmError(f"the limit must be 0 or more, not {limit}")
    rows = con.execute(query).fetchall()
    result = []
    for entry, at, source, predicate, literals, removed, seconds, detail in reversed(rows):
        detail = json.loads(detail)
        result.append({"id": entry, "at": at.isoformat() + "Z", "source": source, "predicate": predicate,
                       "literals_redacted": literals, "rows_removed": removed, "seconds": seconds,
                       "views": detail["views"], "features": detail["features"]})
    return result


def text(log: list[dict]) -> str:
    """The log as ``ivm log`` prints it."""
    if not log:
        return "no deletions recorded"
    lines = []
    for e in log:
        redacted = f" ({e['literals_redacted']} literal{'s' if e['literals_redacted'] != 1 else ''} redacted)" \
            if e["literals_redacted"] else ""
        lines.append(f"#{e['id']} {e['at'][:19]}Z delete from {e['source']} where {e['predicate']}{redacted}: "
                     f"{e['rows_removed']} source rows, {e['seconds']:.4f} s")
        if e["views"]:
            lines.append("  views: " + ", ".join(f"{n} -{v['deleted']} +{v['inserted']}" for n, v in e["views"].items()))
        for name, f in e["features"].items():
            lines.append(f"  feature set {name}: {f['rows_removed']} rows removed; train {f['train_before']} -> "
                         f"{f['train_after']}, test {f['test_before']} -> {f['test_after']}")
    return "\n".join(lines)
