"""Physical erasure: rewrite the database into a fresh file and atomically put it in place of the old one.

A DuckDB ``DELETE`` (even followed by ``CHECKPOINT`` and ``VACUUM``) leaves the deleted values in free
blocks and column statistics of the file. ``COPY FROM DATABASE`` into a new file writes only the live rows,
so the new file holds no copy of anything deleted before. The steps, each safe to be killed at:

1. ``CHECKPOINT`` the database, so the WAL is empty and cannot be replayed onto the new file.
2. ``ATTACH`` a temporary file in the same folder (``DB.ivm-purge-<token>.tmp``) and ``COPY FROM DATABASE``
   into it: the ``_ivm`` schema, every table, view, index, sequence and macro; missing indexes are created.
3. ``DETACH`` it (DuckDB checkpoints it), scan its bytes for fingerprints of the deleted rows, record the
   receipt in it, ``fsync`` it.
4. ``os.replace`` it over the database file, ``fsync`` the folder, reopen.

Until step 4 the old file is untouched (a kill leaves it and a stray temporary file, removed the next time
the database is opened); after it the new file is complete. There is never a moment with neither.

The cost is a full rewrite: time and temporary disk space proportional to the size of the database, not to
the number of rows deleted. Batch deletions and purge once (``ivm purge``) when erasing many rows.
"""
from __future__ import annotations

import glob
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import duckdb

from ivm import receipt as receipts
from ivm.errors import IvmError
from ivm.sql import INTERNAL_SCHEMA

if TYPE_CHECKING:  # pragma: no cover
    from ivm.store.engine import Database

ALIAS = "__ivm_purge"
SUFFIX = ".ivm-purge-"
PAUSE_ENV = "IVM_TEST_PURGE_PAUSE"  # tests only: "<step>" makes the purge announce the step and sleep there
STEPS = ("checkpointed", "copied", "detached", "scanned", "recorded", "synced", "replaced", "reconnected")


def _pause(step: str) -> None:
    wanted = os.environ.get(PAUSE_ENV)
    if wanted and step in wanted.split(","):
        print(f"ivm-purge-step {step}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get(PAUSE_ENV + "_SECONDS", "60")))


def is_file(path: str) -> bool:
    return bool(path) and path != ":memory:" and not path.startswith(":memory:")


def leftovers(path: str) -> list[str]:
    """Temporary files of purges that were interrupted (and the WAL DuckDB may have kept next to them)."""
    target = Path(path)
    pattern = os.path.join(glob.escape(str(target.parent)), glob.escape(target.name) + SUFFIX + "*.tmp")
    found = glob.glob(pattern)
    return sorted(found + [f + ".wal" for f in found if os.path.exists(f + ".wal")]
                  + [w for w in glob.glob(pattern + ".wal") if w[:-4] not in found])


def cleanup(path: str) -> list[str]:
    """Remove what interrupted purges left. Called once the database is open, i.e. while this process holds
    DuckDB's lock on the file, so no other process can be in the middle of a purge of it."""
    if not is_file(path):
        return []
    removed = []
    for leftover in leftovers(path):
        try:
            os.remove(leftover)
            removed.append(leftover)
        except FileNotFoundError:
            pass
    return removed


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover  (platforms without directory handles)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))


def _indexes(con, database: str) -> dict[tuple[str, str], str]:
    rows = con.execute("SELECT schema_name, index_name, sql FROM duckdb_indexes() WHERE database_name = ?",
                       [database]).fetchall()
    return {(schema, name): sql for schema, name, sql in rows}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _copy(con, source: str, target_path: str, inspect: Callable[[str], None] | None = None) -> None:
    """Write the whole of database ``source`` into a new file, checking that every object came across;
    ``inspect(alias)`` runs while the new file is attached."""
    con.execute(f"ATTACH {_literal(target_path)} AS {ALIAS}")
    try:
        con.execute(f"COPY FROM DATABASE {_quote(source)} TO {ALIAS}")
        expected = _indexes(con, source)
        missing = {key: sql for key, sql in expected.items() if key not in _indexes(con, ALIAS)}
        if missing:  # a DuckDB version that copies tables but not their indexes
            con.execute(f"USE {ALIAS}")
            try:
                for sql in missing.values():
                    con.execute(sql)
            finally:
                con.execute(f"USE {_quote(source)}")
        for kind, function in (("table", "duckdb_tables"), ("view", "duckdb_views"),
                               ("index", "duckdb_indexes"), ("sequence", "duckdb_sequences")):
            name_column = f"{kind}_name"
            internal = " AND NOT internal" if kind == "view" else ""
            query = (f"SELECT schema_name, {name_column} FROM {function}() WHERE database_name = ?{internal} "
                     "ORDER BY ALL")
            old, new = (con.execute(query, [db]).fetchall() for db in (source, ALIAS))
            if old != new:
                raise IvmError(f"the copy lost {kind}s: {sorted(set(old) - set(new))[:5]}; nothing was changed")
        if inspect is not None:
            inspect(ALIAS)
        _pause("copied")
    except BaseException:
        _detach_quietly(con)
        raise
    con.execute(f"DETACH {ALIAS}")  # DuckDB checkpoints the new file: no WAL next to it


def _detach_quietly(con) -> None:
    """DETACH after a failure; the failure is what matters."""
    try:
        con.execute(f"DETACH {ALIAS}")
    except duckdb.Error:
        pass


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def purge(db: "Database", *, fingerprints: receipts.Fingerprints | None = None,
          pending_id: int | None = None, deleted: dict | None = None) -> dict:
    """Rewrite ``db`` into a fresh file, scan it for ``fingerprints``, record and return the receipt.

    ``pending_id`` is the receipt the purging deletion stored (its ``deleted`` counts are filled in); a purge
    on its own completes every pending receipt and stores a receipt of its own.
    """
    if not is_file(db.path):
        raise IvmError("purge needs a database file; an in-memory database has no file to erase")
    path = os.path.abspath(db.path)
    folder = os.path.dirname(path)
    start = time.perf_counter()
    bytes_before = _size(path)
    con = db.con
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as error:
        raise IvmError(f"cannot purge: checkpoint failed: {str(error).splitlines()[0]}") from None
    if os.path.exists(path + ".wal") and os.path.getsize(path + ".wal") > 0:
        raise IvmError("cannot purge: the WAL is not empty after a checkpoint (another connection in this "
                       "process has an open transaction?); nothing was changed")
    _pause("checkpointed")
    cleanup(path)
    source = con.execute("SELECT current_database()").fetchall()[0][0]
    temporary = os.path.join(folder, Path(path).name + SUFFIX + secrets.token_hex(6) + ".tmp")
    fingerprints = fingerprints or receipts.Fingerprints()
    replaced = False
    try:
        # fingerprints the live data still holds prove nothing (another customer with the same name)
        checking = time.perf_counter()
        if len(fingerprints):
            fingerprints = receipts.drop_still_live(con, fingerprints, db.sources, db._schema())
        patterns = fingerprints.patterns()
        in_tables: set[bytes] = set()
        check_seconds = time.perf_counter() - checking

        def search(alias: str) -> None:  # every column of every table of the new file, compression-proof
            nonlocal check_seconds
            searching = time.perf_counter()
            in_tables.update(receipts.search_tables(con, alias, fingerprints))
            check_seconds += time.perf_counter() - searching

        _copy(con, source, temporary, search if patterns else None)
        _pause("detached")
        if os.path.exists(temporary + ".wal") and os.path.getsize(temporary + ".wal") > 0:
            raise IvmError("the new file kept a WAL after DETACH; nothing was changed")
        copy_seconds = time.perf_counter() - start - check_seconds
        scanned_at = time.perf_counter()
        files = [temporary] + ([temporary + ".wal"] if os.path.exists(temporary + ".wal") else [])
        result = receipts.scan(files, [p for _, _, p in patterns])
        scan_seconds = time.perf_counter() - scanned_at
        for checked in result.files:  # report the names the files have once they are in place
            checked["path"] = path + checked["path"][len(os.path.abspath(temporary)):]
        _pause("scanned")
        # bytes of a value that is part of a longer live value ('Ann Lee' in 'Ann Leeds') prove nothing
        found_text = {p for (kind, _, p), count in zip(patterns, result.counts)
                      if count and kind == "text" and p not in in_tables}
        explained = receipts.contained_in_live(con, found_text, db.sources, db._schema()) if found_text else set()
        by_column: dict[str, dict] = {}
        summary = {"min_length": receipts.MIN_LENGTH, "text": 0, "numeric": 0, "scanned": 0, "found": 0,
                   "found_in_file_bytes": 0, "found_in_tables": 0,
                   "still_live": fingerprints.still_live + len(explained), "by_column": by_column}
        for (kind, column, pattern), count in zip(patterns, result.counts):
            if kind == "text" and pattern in explained:
                continue
            in_bytes, in_rows = bool(count), pattern in in_tables
            entry = by_column.setdefault(column, {"scanned": 0, "found": 0})
            entry["scanned"] += 1
            entry["found"] += in_bytes or in_rows
            summary[kind] += 1
            summary["scanned"] += 1
            summary["found"] += in_bytes or in_rows
            summary["found_in_file_bytes"] += in_bytes
            summary["found_in_tables"] += in_rows
        patterns = explained = found_text = in_tables = fingerprints = None  # the values go no further
        token = secrets.token_hex(8)
        purge_info = {"token": token, "bytes_before": bytes_before, "bytes_after": _size(temporary),
                      "copy_seconds": copy_seconds, "check_seconds": check_seconds, "scan_seconds": scan_seconds,
                      "seconds": time.perf_counter() - start, "purged_at": receipts.now()}
        stored = _record(con, temporary, source, summary, result.files, purge_info, pending_id, deleted)
        if os.path.exists(temporary + ".wal") and os.path.getsize(temporary + ".wal") > 0:
            raise IvmError("the new file kept a WAL after DETACH; nothing was changed")
        _pause("recorded")
        _fsync_file(temporary)
        _pause("synced")
        os.replace(temporary, path)
        replaced = True
        _fsync_dir(folder)
        _pause("replaced")
    except BaseException as error:
        if not replaced:
            for leftover in (temporary, temporary + ".wal"):
                try:
                    os.remove(leftover)
                except OSError:
                    pass
            if isinstance(error, duckdb.Error):
                raise IvmError(f"purge failed, the database is unchanged: {str(error).splitlines()[0]}") from None
        raise
    db._reconnect()
    try:
        check = db.con.execute(f"SELECT receipt FROM {receipts.RECEIPTS} WHERE id = ?", [stored["id"]]).fetchall()
    except duckdb.Error:  # the old database had no receipts yet
        check = []
    if not check or token not in check[0][0]:
        # DuckDB keeps one database per path and process while any connection to it is open: this handle
        # reopened the old, unlinked file, and a change made through it would be reported and lost
        db.close()
        raise IvmError("the purged file is in place, but this process still sees the old database through "
                       "another open connection; this handle is closed: close every connection to the file and "
                       "open it again")
    _pause("reconnected")
    return stored


def _record(con, temporary: str, source: str, summary: dict, files: list[dict], purge_info: dict,
            pending_id: int | None, deleted: dict | None) -> dict:
    """Store the receipt in the new file (so that it arrives with the purge, atomically)."""
    con.execute(f"ATTACH {_literal(temporary)} AS {ALIAS}")
    table = f'{ALIAS}."{INTERNAL_SCHEMA}"."__receipts"'
    try:
        con.begin()
        receipts.ensure(con, table)
        waiting = receipts.pending(con, table)
        completed = receipts.now()
        if pending_id is not None:
            mine = next((r for r in waiting if r["id"] == pending_id), None)
            if mine is None:
                raise IvmError(f"pending receipt {pending_id} disappeared")
            others = [r for r in waiting if r["id"] != pending_id]
            mine.update(status="complete", completed_at=completed, files=files, fingerprints=summary,
                        purge=purge_info)
            if deleted is not None:
                mine["deleted"] = deleted
            if others:
                mine["completes"] = [r["id"] for r in others]
            receipts.update(con, mine, table)
            stored = mine
        else:
            stored = {"request": {"command": "purge"}, "created_at": completed, "completed_at": completed,
                      "deleted": {"sources": {}, "views": {}},  # a purge alone deletes no rows itself
                      "files": files, "fingerprints": summary, "purge": purge_info,
                      "completes": [r["id"] for r in waiting]}
            receipts.add(con, stored, "complete", table)
            others = waiting
        for other in others:
            other.update(status="complete", completed_at=completed, completed_by=stored["id"], files=files)
            other["fingerprints"] = {
                "min_length": receipts.MIN_LENGTH, "text": 0, "numeric": 0, "scanned": 0, "found": 0,
                "still_live": 0, "by_column": {},
                "note": "the purge of this deletion was interrupted and completed later; the deleted values "
                        "are never kept, so none could be looked for"}
            receipts.update(con, other, table)
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:
            pass
        _detach_quietly(con)
        raise
    con.execute(f"DETACH {ALIAS}")
    return stored
