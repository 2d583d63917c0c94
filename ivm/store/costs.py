"""Choosing, per view and per deletion, between incremental maintenance and rebuilding the view.

Incremental maintenance pays for every statement over the rows a deletion reaches; rebuilding pays for the
whole view once. On a view DuckDB recomputes in 20 ms (most TPC-H queries at 1M rows), maintaining it after
1,000 scattered deletions can cost more than that. ``ivm delete --strategy auto`` asks, per view: would the
incremental path cost more than a rebuild? Both sides come from what this database measured itself:

* a view's rebuild cost is the time its stages took to materialise plus its share of the COMMIT, stored
  after deploy, after ``recompute`` and whenever a deletion rebuilds it (table ``__costs``);
* its incremental cost is read from the audit log: the latest deletion from the same source that maintained
  the view incrementally, scaled by a power of the ratio of deleted rows. Maintenance grows much slower than
  the rows (most statements cost a scan of a stage, whatever the number of rows: on TPC-H at 1M lineitems,
  100x the rows cost 2.5-5x the time, an exponent of 0.2-0.35), so the exponent is fitted from two earlier
  deletions whose sizes differ at least twofold, within [0.2, 1], and is 0.3 until there are two (0.5 scaled
  one 1-row deletion up so steeply that auto rebuilt views a 0.1-1% deletion maintains 2-7x faster: a
  5-table join aggregate at 100,000 rows, 1,000 deleted, 125 ms rebuilt against 22 ms maintained).

Without both measurements the view is maintained incrementally. The choice never affects the result, only its
cost: a rebuild is the same recompute ``ivm recompute`` runs.
"""
from __future__ import annotations

import json
import math
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
    """One incremental maintenance of a view: ``rows`` source rows deleted, ``seconds`` spent on the view;
    ``exponent``: how its cost grows with the rows (seconds ~ rows ** exponent)."""

    rows: int
    seconds: float
    exponent: float = 0.3


def fitted(latest: Observation, other: Observation) -> Observation:
    """``latest`` with the exponent of the power law through both observations (clipped to [0.2, 1])."""
    slope = math.log(max(other.seconds, 1e-9) / max(latest.seconds, 1e-9)) / math.log(other.rows / latest.rows)
    return Observation(latest.rows, latest.seconds, min(1.0, max(0.2, slope)))


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


def forget(con, view: str) -> None:
    """Drop the stored rebuild cost of a view that is dropped (or replaced: its new definition is measured
    when it is built)."""
    con.execute(f"DELETE FROM {COSTS} WHERE view = ?", [view])


def rebuild_seconds(con) -> dict[str, float]:
    return dict(con.execute(f"SELECT view, rebuild_seconds FROM {COSTS}").fetchall())


def observations(con, source: str, views) -> dict[str, Observation]:
    """The latest incremental maintenance of each of ``views`` by a deletion from ``source`` that removed
    rows (newest entries first; stops once every view has one)."""
    wanted = set(views)
    rows = con.execute(f"SELECT rows_removed, detail FROM {LOG} WHERE source = ? AND rows_removed > 0 "
                       f"ORDER BY id DESC LIMIT {HISTORY}", [source]).fetchall()
    found: dict[str, Observation] = {}
    done: set[str] = set()  # views whose exponent is fitted too
    for removed, detail in rows:
        for view, entry in json.loads(detail).get("views", {}).items():
            if view not in wanted or view in done or entry.get("rebuilt") is not False or "seconds" not in entry:
                continue
            seen = Observation(int(removed), float(entry["seconds"]))
            latest = found.get(view)
            if latest is None:
                found[view] = seen
            elif max(seen.rows, latest.rows) >= 2 * min(seen.rows, latest.rows):
                found[view] = fitted(latest, seen)
                done.add(view)
        if len(done) == len(wanted):
            break
    return found


def estimate(observation: Observation, rows: int) -> float:
    """Incremental seconds for ``rows`` source rows, scaled from ``observation`` by its power law."""
    return observation.seconds * (max(rows, 1) / max(observation.rows, 1)) ** observation.exponent


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
           "fitted", "estimate", "rebuild_reason", "closed"]
