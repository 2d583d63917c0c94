"""Choosing, per view and per deletion, between incremental maintenance and rebuilding the view.

Incremental maintenance pays for every statement over the rows a deletion reaches; rebuilding pays for the
whole view once. On a view DuckDB recomputes in 20 ms (most TPC-H queries at 1M rows), maintaining it after
1,000 scattered deletions can cost more than that. ``ivm delete --strategy auto`` asks, per view: would the
incremental path cost more than a rebuild? Both sides come from what this database measured itself:

* a view's rebuild cost is the time its stages took to materialise plus its share of the COMMIT, stored
  after deploy, after ``recompute`` and whenever a deletion rebuilds it (table ``__costs``);
* its incremental cost is read from the audit log: the latest deletion from the same source that maintained
  the view incrementally, scaled in proportion to the number of source rows (never below that observation
  when more rows go: a fixed cost does not shrink).

Without both measurements the view is maintained incrementally. The choice never affects the result, only its
cost: a rebuild is the same recompute ``ivm recompute`` runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from ivm.audit import LOG
from ivm.sql import INTERNAL_SCHEMA

COSTS = f'"{INTERNAL_SCHEMA}"."__costs"'
SETUP = f"CREATE TABLE IF NOT EXISTS {COSTS} (view VARCHAR PRIMARY KEY, rebuild_seconds DOUBLE, measured_at TIMESTAMP)"
STRATEGIES = ("incremental", "auto", "recompute")
MARGIN = 1.25  # rebuild only when the incremental estimate exceeds the rebuild cost by this factor
HISTORY = 200  # audit entries read for observations


@dataclass(frozen=True)
class Observation:
    """One incremental maintenance of a view: ``rows`` source rows deleted, ``seconds`` spent on the view."""

    rows: int
    seconds: float


def ensure(con) -> None:
    con.execute(SETUP)


def record_rebuilds(con, seconds: dict[str, float], commit: float = 0.0) -> None:
    """Store the latest rebuild cost of each view in ``seconds``, after the transaction that built them
    committed in ``commit`` seconds: the COMMIT writes the rebuilt tables out (and may make DuckDB
    checkpoint), which a rebuild costs and maintenance mostly does not, so each view takes a share of it in
    proportion to its build time. Run in its own transaction; a failure is ignored, as a missing
    measurement only means "maintain"."""
    total = sum(seconds.values())
    rows = [[view, float(s) + (commit * s / total if total > 0 else 0.0)] for view, s in seconds.items()]
    if not rows:
        return
    try:
        con.executemany(f"INSERT OR REPLACE INTO {COSTS} VALUES (?, ?, now())", rows)
    except duckdb.Error:
        pass


def rebuild_seconds(con) -> dict[str, float]:
    return dict(con.execute(f"SELECT view, rebuild_seconds FROM {COSTS}").fetchall())


def observations(con, source: str, views) -> dict[str, Observation]:
    """The latest incremental maintenance of each of ``views`` by a deletion from ``source`` that removed
    rows (newest entries first; stops once every view has one)."""
    wanted = set(views)
    rows = con.execute(f"SELECT rows_removed, detail FROM {LOG} WHERE source = ? AND rows_removed > 0 "
                       f"ORDER BY id DESC LIMIT {HISTORY}", [source]).fetchall()
    found: dict[str, Observation] = {}
    for removed, detail in rows:
        for view, entry in json.loads(detail).get("views", {}).items():
            if view in wanted and view not in found and entry.get("rebuilt") is False and "seconds" in entry:
                found[view] = Observation(int(removed), float(entry["seconds"]))
        if len(found) == len(wanted):
            break
    return found


def estimate(observation: Observation, rows: int) -> float:
    """Incremental seconds for ``rows`` source rows: proportional to the rows, never below the observed cost
    when at least as many rows go."""
    scaled = observation.seconds * rows / max(observation.rows, 1)
    return max(scaled, observation.seconds) if rows >= observation.rows else scaled


def rebuild_reason(observation: Observation | None, rebuild: float | None, rows: int) -> str | None:
    """Why ``auto`` rebuilds a view for a deletion of ``rows`` source rows, or None to maintain it."""
    if observation is None or rebuild is None:
        return None
    expected = estimate(observation, rows)
    if expected <= MARGIN * rebuild:
        return None
    return (f"rebuilt (--strategy auto): incremental maintenance estimated at {expected * 1000:.1f} ms for "
            f"{rows:,} rows (it took {observation.seconds * 1000:.1f} ms for {observation.rows:,}), "
            f"a rebuild at {rebuild * 1000:.1f} ms")


def closed(chosen: set[str], readers: dict[str, set[str]]) -> set[str]:
    """The largest subset of ``chosen`` in which every view's readers are rebuilt too: a view read by a
    maintained view must hand it an exact delta, which a rebuild does not produce."""
    result = set(chosen)
    changed = True
    while changed:
        changed = False
        for view in sorted(result):
            if not readers.get(view, set()) <= result:
                result.discard(view)
                changed = True
    return result


__all__ = ["STRATEGIES", "Observation", "ensure", "record_rebuilds", "rebuild_seconds", "observations",
           "estimate", "rebuild_reason", "closed"]
