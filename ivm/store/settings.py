"""Settings that change what a view means, pinned per database file.

DuckDB takes its ``TimeZone`` from the process environment (``TZ``), and ``CAST(ts AS DATE)``, ``hour(ts)`` or
``date_trunc('day', ts)`` over a ``TIMESTAMPTZ`` read the wall clock of that zone. A view deployed from one
shell and maintained from a cron job in another zone would then subtract rows from the groups of another day
than the ones they were counted in: silently wrong. So the first ivm connection to a file records the zone
it runs in, and every later connection uses that zone, whatever its environment says.
"""
from __future__ import annotations

from ivm.sql import INTERNAL_SCHEMA

SETTINGS = f'"{INTERNAL_SCHEMA}"."__settings"'
PINNED = ("TimeZone",)


def pin(con) -> dict[str, str]:
    """Record the pinned settings on first use, then apply the recorded values to ``con``; returns them."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {SETTINGS} (name VARCHAR PRIMARY KEY, value VARCHAR)")
    stored = dict(con.execute(f"SELECT name, value FROM {SETTINGS}").fetchall())
    for name in PINNED:
        if name not in stored:
            stored[name] = con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]
            con.execute(f"INSERT INTO {SETTINGS} VALUES (?, ?)", [name, stored[name]])
        con.execute(f"SET {name} = '{stored[name].replace(chr(39), chr(39) * 2)}'")
    return {name: stored[name] for name in PINNED}


def quiet(con):
    """Switch DuckDB's own progress bar off; returns ``con``. It writes to stdout, into `--json` output, for any
    statement over ~2 s; ivm reports progress itself, on stderr and only to a terminal (ivm/progress.py)."""
    con.execute("SET enable_progress_bar = false")
    return con
