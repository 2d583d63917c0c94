"""When a commit also checkpoints: DuckDB's automatic checkpoints versus many small deletions.

DuckDB checkpoints at COMMIT (rewriting the touched row groups and indexes into the database file) when the
write-ahead log plus its *estimate* of the committing transaction's log exceed ``checkpoint_threshold``
(16 MiB by default). The estimate reserves a whole vector (2,048 slots) per column for every vector an
UPDATE touches, so maintaining an aggregate with many groups looks far larger than it is: in the analytics
workload at 5M orders, deleting 0.1% of the orders updates 5,000 of q02's 500,000 groups, DuckDB estimated
well over 32 MiB for 0.7 MiB of log, and every deletion checkpointed (600 of its 970 ms).

ivm raises the threshold for its own connection and checkpoints itself once the real log passes
:data:`LOG_LIMIT`, so the checkpoint is paid once per many deletions, and the log replayed after a crash
stays small. DuckDB still checkpoints when the database is closed.
"""
from __future__ import annotations

import os
import time

import duckdb

from ivm.errors import IvmError, first_line

THRESHOLD = "4GiB"     # DuckDB's own trigger (log + estimate): a safety net only
LOG_LIMIT = 64 << 20   # checkpoint after a commit once the real log is this large


def configure(con, path: str) -> None:
    """Raise the threshold for a database file. An in-memory database keeps DuckDB's default: there its
    checkpoints only vacuum deleted rows, and should go on freeing their memory (and values) early."""
    if path != ":memory:":
        con.execute(f"SET checkpoint_threshold = '{THRESHOLD}'")


def log_path(path: str) -> str | None:
    """The write-ahead log of the database file at ``path`` (absolute: the process may change directory)."""
    return None if path == ":memory:" else os.path.abspath(path) + ".wal"


def checkpoint_if_due(con, log: str | None) -> float:
    """CHECKPOINT when ``log`` has passed LOG_LIMIT; returns its seconds. Call it after a COMMIT, outside the
    transaction's error handling: the change is committed whatever happens here."""
    if log is None or not os.path.exists(log) or os.path.getsize(log) <= LOG_LIMIT:
        return 0.0
    began = time.perf_counter()
    try:
        con.execute("CHECKPOINT")
    except duckdb.FatalException as error:  # DuckDB invalidated this connection's database
        raise IvmError(f"the change is committed (in the write-ahead log), but the checkpoint after it failed: "
                       f"{first_line(error)}; open the database again") from None
    except (duckdb.Error, RuntimeError):  # another transaction open, an interrupted query: the log keeps it all
        pass
    return time.perf_counter() - began
