"""Erasure receipts: fingerprints of deleted rows, a byte scan of the database file, and the stored record.

Before ``delete(..., purge=True)`` removes rows, :func:`capture` reads the values those rows hold in their
text columns (at least :data:`MIN_LENGTH` bytes) and in their wide numeric columns (integers and decimals
whose on-disk 8-byte encoding is distinctive, |value| >= 2**32). The values live in Python memory only:
they are never written to the database, a temporary table or a log, and they are dropped when the purge
returns. After the purge, :func:`scan` looks for their bytes in the new database file (and its WAL) and the
receipt records only counts: how many fingerprints were scanned and how many were still found.

Receipts are stored in ``_ivm.__receipts`` (id, created_at, status, receipt JSON). A receipt is ``pending``
from the moment a purging deletion commits until the purge that completes it has replaced the file.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Sequence

import numpy as np
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from ivm.errors import IvmError
from ivm.plan.parse import LITERAL_LIST
from ivm.sql import DIALECT, INTERNAL_SCHEMA, render

RECEIPTS = f'"{INTERNAL_SCHEMA}"."__receipts"'
MIN_LENGTH = 8  # shorter text values ('UK', 'Ann') occur by chance everywhere in a file and prove nothing
NUMERIC_MIN = 2 ** 32  # smaller integers have 8-byte encodings full of zero bytes that occur by chance
CHUNK = 64 << 20  # bytes read per scan step


# -- storage ---------------------------------------------------------------------------------------------
def ensure(con, table: str = RECEIPTS) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY, created_at TIMESTAMP, "
                "status VARCHAR, receipt VARCHAR)")


def exists(con) -> bool:
    return bool(con.execute(
        "SELECT COUNT(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = '__receipts'", [INTERNAL_SCHEMA]).fetchall()[0][0])


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def add(con, receipt: dict, status: str, table: str = RECEIPTS) -> int:
    """Store a new receipt and return its id (ids are never reused: max + 1 of the stored ones)."""
    ensure(con, table)
    new_id = con.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchall()[0][0]
    receipt["id"] = new_id
    receipt["status"] = status
    con.execute(f"INSERT INTO {table} VALUES (?, now(), ?, ?)", [new_id, status, json.dumps(receipt)])
    return new_id


def update(con, receipt: dict, table: str = RECEIPTS) -> None:
    con.execute(f"UPDATE {table} SET status = ?, receipt = ? WHERE id = ?",
                [receipt["status"], json.dumps(receipt), receipt["id"]])


def pending(con, table: str = RECEIPTS) -> list[dict]:
    """Receipts whose purge has not completed (the table must exist: see :func:`ensure`)."""
    rows = con.execute(f"SELECT receipt FROM {table} WHERE status = 'pending' ORDER BY id").fetchall()
    return [json.loads(r[0]) for r in rows]


def load(con, receipt_id: int | None = None) -> dict:
    """The stored receipt ``receipt_id``, or the latest one."""
    if not exists(con):
        raise IvmError("no erasure receipts in this database; run `ivm delete ... --purge` or `ivm purge`")
    if receipt_id is None:
        row = con.execute(f"SELECT receipt FROM {RECEIPTS} ORDER BY id DESC LIMIT 1").fetchall()
    else:
        row = con.execute(f"SELECT receipt FROM {RECEIPTS} WHERE id = ?", [receipt_id]).fetchall()
    if not row:
        ids = [r[0] for r in con.execute(f"SELECT id FROM {RECEIPTS} ORDER BY id").fetchall()]
        raise IvmError(f"no receipt {receipt_id}; receipts: {', '.join(map(str, ids)) or 'none'}")
    return json.loads(row[0][0])


# -- the request, without the values it names -----------------------------------------------------------
# every node that carries a constant as written: 'text', 42, N'text', e'text', $$text$$, x'41', b'01', U&'text'
_DUCKDB = Dialect.get_or_raise(DIALECT)
_CONSTANTS = (exp.Literal, exp.National, exp.ByteString, exp.RawString, exp.HexString, exp.BitString,
              exp.UnicodeString)


def redacted(predicate: exp.Expression) -> tuple[str, int]:
    """The predicate with every constant (and JSON path) replaced by ``?`` and without comments: ``name = 'Ann
    Lee'`` is itself the personal data that was erased, so the receipt keeps the shape of the request only.
    ``-12.5`` is one constant: its sign is part of the value (``balance = -?`` would tell it).

    Each constant of a copy of the tree is swapped for a placeholder in its parent's argument slot directly:
    sqlglot's ``replace`` re-parents a whole argument list on each replacement, which made ``id IN (50,000
    ids)`` take minutes. (Not a generator subclass that prints constants as ``?``: sqlglot's compiled build,
    sqlglotc, does not let Python classes inherit from its generator.)

    Example:
        >>> import sqlglot
        >>> redacted(sqlglot.parse_one("name = 'Ann' /* Ann */ AND x IN (1, -2.5) AND y = -z", dialect="duckdb"))
        ('name = ? AND x IN (?, ?) AND y = -z', 3)
        >>> from ivm.plan.parse import parse_predicate
        >>> redacted(parse_predicate("id IN (1, 2, 3, 4, 5, 6, 7, -8) AND s = 'x'"))
        ('id IN (?, ?, ?, ?, ?, ?, ?, ?) AND s = ?', 9)
    """
    tree = predicate.copy()
    count, targets = 0, []  # a negated constant is swapped whole, its constant counted
    for node in tree.find_all(*_CONSTANTS, exp.JSONPath, exp.Neg, exp.Var):
        if isinstance(node, exp.Var):  # a long list of constants kept as written (ivm.plan.parse)
            listed = node.meta.get(LITERAL_LIST) if node.meta else None
            if listed:
                count += listed
                node.set("this", ", ".join(["?"] * listed))
            continue
        if isinstance(node, exp.Neg):
            if isinstance(node.this, _CONSTANTS):
                targets.append(node)
            continue
        count += 1
        if not (isinstance(node, _CONSTANTS) and isinstance(node.parent, exp.Neg)):
            targets.append(node)
    for node in targets:
        if node is tree:
            return "?", count
        _swap_for_placeholder(node)
    return tree.sql(dialect=_DUCKDB, comments=False, copy=False), count


def _swap_for_placeholder(node: exp.Expression) -> None:
    """Put an unnamed placeholder (rendered ``?``) where ``node`` is in its parent, without re-parenting its
    siblings."""
    parent, key, index = node.parent, node.arg_key, node.index
    placeholder = exp.Placeholder()
    if index is None:
        parent.args[key] = placeholder
    else:
        parent.args[key][index] = placeholder
    placeholder.parent, placeholder.arg_key, placeholder.index = parent, key, index


# -- fingerprints ----------------------------------------------------------------------------------------
TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "JSON")
WIDE_INTEGERS = ("BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT", "INT8", "LONG")


@dataclass
class Fingerprints:
    """Byte patterns of the deleted rows, per source column. In memory only."""

    text: dict[str, set[bytes]] = field(default_factory=dict)
    numeric: dict[str, set[bytes]] = field(default_factory=dict)
    still_live: int = 0  # values left out because live rows (or the catalog) still hold them

    def patterns(self) -> list[tuple[str, str, bytes]]:
        """(kind, column, bytes) of every fingerprint."""
        return [("text", c, v) for c, vs in self.text.items() for v in sorted(vs)] + \
               [("numeric", c, v) for c, vs in self.numeric.items() for v in sorted(vs)]

    def __len__(self) -> int:
        return sum(map(len, self.text.values())) + sum(map(len, self.numeric.values()))


def _numeric_encoding(value, column_type: str) -> bytes | None:
    """The little-endian 8-byte word DuckDB stores for ``value`` when it writes the column uncompressed
    (the low word of a HUGEINT; a DECIMAL(w<=18) as its scaled integer), or None if not distinctive."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        scale = _decimal_scale(column_type) or 0
        width = int(column_type.split("(")[1].split(",")[0]) if "(" in column_type else 18
        if width > 18:
            return None
        value = int(value.scaleb(scale))
    if not isinstance(value, int) or abs(value) < NUMERIC_MIN:
        return None
    return (value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little")


def _is_text(column_type: str) -> bool:
    return column_type.upper().startswith(TEXT_TYPES)


def _is_wide_number(column_type: str) -> bool:
    upper = column_type.upper()
    return upper in WIDE_INTEGERS or upper.startswith("DECIMAL")


def capture(con, table: exp.Table, predicate: exp.Expression, columns: dict[str, str],
            min_length: int = MIN_LENGTH) -> Fingerprints:
    """Read the distinct values that the rows of ``table`` matching ``predicate`` hold in their text and wide
    numeric columns, straight into Python memory (nothing is written anywhere)."""
    found = Fingerprints()
    for name, column_type in columns.items():
        col = exp.column(exp.to_identifier(name, quoted=True))
        if _is_text(column_type):
            condition = exp.and_(predicate.copy(), exp.func("strlen", col.copy()) >= min_length)
        elif _is_wide_number(column_type):
            condition = exp.and_(predicate.copy(), exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())))
        else:
            continue
        query = exp.select(col).distinct().from_(table.copy()).where(condition)
        values = [r[0] for r in con.execute(render(query)).fetchall()]
        if _is_text(column_type):
            patterns = {v.encode("utf-8") for v in values if v is not None}
            if patterns:
                found.text[name] = patterns
        else:
            patterns = {p for p in (_numeric_encoding(v, column_type) for v in values) if p is not None}
            if patterns:
                found.numeric[name] = patterns
    return found


def drop_still_live(con, fingerprints: Fingerprints, sources: Iterable[str],
                    schema: dict[str, dict[str, str]]) -> Fingerprints:
    """Leave out fingerprints that the database legitimately still holds after the deletion: a value of a
    live source row (another customer called 'Smith & Sons Ltd') or part of the catalog (a literal in a
    view's SQL). Finding those in the file would not mean the deletion left a copy behind."""
    live_text: set[bytes] = set()
    all_text = {v for vs in fingerprints.text.values() for v in vs}
    all_numbers = {v for vs in fingerprints.numeric.values() for v in vs}
    live_numbers: set[bytes] = set()
    for source in sources:
        for name, column_type in schema.get(source, {}).items():
            quoted = f'"{INTERNAL_SCHEMA}"."{source}"'
            col = exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)
            if _is_text(column_type) and all_text:
                rows = con.execute(f"SELECT DISTINCT {col} FROM {quoted} WHERE {col} IN "
                                   f"(SELECT unnest(?::VARCHAR[]))",
                                   [[v.decode("utf-8") for v in all_text]]).fetchall()
                live_text |= {r[0].encode("utf-8") for r in rows}
            elif _is_wide_number(column_type) and all_numbers:
                live_numbers |= _matching_numbers(con, quoted, col, column_type, all_numbers)
    catalog_text = "\n".join(r[0] or "" for r in con.execute(
        "SELECT sql FROM duckdb_views() WHERE NOT internal AND database_name = current_database()").fetchall())
    # ivm's own catalog: where sources came from, the views' SQL as the user wrote it (maintained views are
    # tables, so duckdb_views() does not show their text) and feature set specs (a label's literals)
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND "
                                         "database_name = current_database()", [INTERNAL_SCHEMA]).fetchall()}
    for table in ("__sources", "__views", "__ml_sets"):
        if table in present:
            catalog_text += "\n" + "\n".join(str(v) for r in con.execute(
                f'SELECT * FROM "{INTERNAL_SCHEMA}"."{table}"').fetchall() for v in r)
    catalog_bytes = catalog_text.encode("utf-8")
    kept = Fingerprints()
    dropped = 0
    for column, values in fingerprints.text.items():
        keep = {v for v in values if v not in live_text and v not in catalog_bytes}
        dropped += len(values) - len(keep)
        if keep:
            kept.text[column] = keep
    for column, values in fingerprints.numeric.items():
        keep = values - live_numbers
        dropped += len(values) - len(keep)
        if keep:
            kept.numeric[column] = keep
    kept.still_live = fingerprints.still_live + dropped
    return kept


def search_tables(con, database: str, fingerprints: Fingerprints) -> set[bytes]:
    """The fingerprints some row of some table of ``database`` holds as a whole value, in any column of a
    matching kind. Unlike the byte scan this sees through DuckDB's string compression (FSST, dictionaries),
    so it catches every exact copy that is still a live value somewhere (in a source, a stage, a view)."""
    texts = {v for vs in fingerprints.text.values() for v in vs}
    numbers = {v for vs in fingerprints.numeric.values() for v in vs}
    found: set[bytes] = set()
    if not texts and not numbers:
        return found
    columns = con.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
        "AND NOT (schema_name = ? AND table_name = '__receipts') ORDER BY ALL", [database, INTERNAL_SCHEMA]).fetchall()
    text_list = [v.decode("utf-8") for v in texts]
    for schema, table, name, column_type in columns:
        relation = ".".join(exp.to_identifier(p, quoted=True).sql(dialect=DIALECT) for p in (database, schema, table))
        col = exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)
        if _is_text(column_type) and texts:
            rows = con.execute(f"SELECT DISTINCT {col} FROM {relation} WHERE {col} IN "
                               f"(SELECT unnest(?::VARCHAR[]))", [text_list]).fetchall()
            found |= {r[0].encode("utf-8") for r in rows}
        elif _is_wide_number(column_type) and numbers:
            found |= _matching_numbers(con, relation, col, column_type, numbers)
    return found


def contained_in_live(con, values: set[bytes], sources: Iterable[str],
                      schema: dict[str, dict[str, str]]) -> set[bytes]:
    """The text fingerprints that are part of a longer value a live source row holds ('Ann Lee' inside
    'Ann Leeds'): their bytes are in the file because of that row. Asked only about fingerprints the scan
    found, so the nested-loop cost stays small when the erasure worked."""
    held: set[bytes] = set()
    if not values:
        return held
    texts = [v.decode("utf-8") for v in values]
    for source in sources:
        for name, column_type in schema.get(source, {}).items():
            if not _is_text(column_type):
                continue
            col = exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)
            rows = con.execute(f'SELECT DISTINCT p.f FROM (SELECT unnest(?::VARCHAR[]) AS f) p WHERE EXISTS '
                               f'(SELECT 1 FROM "{INTERNAL_SCHEMA}"."{source}" s WHERE contains(s.{col}, p.f))',
                               [texts]).fetchall()
            held |= {r[0].encode("utf-8") for r in rows}
    return held


def _matching_numbers(con, table: str, col: str, column_type: str, patterns: set[bytes]) -> set[bytes]:
    """Encodings in ``patterns`` that some live row of ``table.col`` still holds (read in that column's own
    encoding: a DECIMAL's scaled integer)."""
    scale = _decimal_scale(column_type)
    integers = [int.from_bytes(p, "little", signed=True) for p in patterns]
    if scale is None:
        rows = con.execute(f"SELECT DISTINCT CAST({col} AS HUGEINT) FROM {table} WHERE CAST({col} AS HUGEINT) "
                           f"IN (SELECT unnest(?::HUGEINT[]))", [integers]).fetchall()
        return {(int(r[0]) & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little") for r in rows}
    decimals = [str(Decimal(i).scaleb(-scale)) for i in integers]
    rows = con.execute(f"SELECT DISTINCT {col} FROM {table} WHERE {col} IN "
                       f"(SELECT CAST(unnest(?::VARCHAR[]) AS {column_type}))", [decimals]).fetchall()
    return {p for p in (_numeric_encoding(r[0], column_type) for r in rows) if p is not None}


def _decimal_scale(column_type: str) -> int | None:
    if not column_type.upper().startswith("DECIMAL"):
        return None
    return int(column_type.split(",")[1].rstrip(") ")) if "," in column_type else 0


# -- the byte scan ---------------------------------------------------------------------------------------
@dataclass
class ScanResult:
    counts: list[int]  # occurrences per pattern
    files: list[dict]  # {"path", "size", "sha256"} of every file scanned


def scan(paths: Sequence[str], patterns: Sequence[bytes]) -> ScanResult:
    """Count the occurrences of every pattern (at least 8 bytes each) in the files, hashing them on the way.

    Multi-pattern search in numpy: 8-byte words of the file at a stride are hashed into a bitmap holding the
    patterns' 8-byte sub-words, candidates are checked exactly. With a stride ``s`` every occurrence of a
    pattern of length >= 7 + s contains a word at a multiple of ``s``, so long patterns cost one pass.
    """
    patterns = [bytes(p) for p in patterns]
    if any(len(p) < 8 for p in patterns):
        raise ValueError("fingerprints must be at least 8 bytes long")
    counts = [0] * len(patterns)
    files = []
    shortest = min((len(p) for p in patterns), default=15)
    stride = next(s for s in (8, 4, 2, 1) if shortest >= 7 + s)
    words: dict[int, list[tuple[int, int]]] = {}  # word -> [(pattern index, offset of the word in it)]
    for index, pattern in enumerate(patterns):
        for shift in range(stride):
            word = int.from_bytes(pattern[shift:shift + 8], "little")
            words.setdefault(word, []).append((index, shift))
    keys = np.array(sorted(words), dtype=np.uint64)
    bits = 22
    bitmap = np.zeros(1 << bits, dtype=bool)
    multiplier = np.uint64(0x9E3779B97F4A7C15)
    shift_bits = np.uint64(64 - bits)
    if len(keys):
        bitmap[(keys * multiplier) >> shift_bits] = True
    overlap = max((len(p) for p in patterns), default=8) + 8
    for path in paths:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            tail = b""
            base = 0  # file offset of buf[0]
            while True:
                block = handle.read(CHUNK)
                digest.update(block)
                size += len(block)
                buf = tail + block
                if not buf:
                    break
                final = not block
                # occurrences starting before `limit` are counted now; later ones with the next chunk
                limit = len(buf) if final else max(0, len(buf) - overlap)
                if len(keys):
                    _scan_buffer(buf, base, limit, patterns, words, keys, bitmap, multiplier, shift_bits,
                                 stride, counts)
                if final:
                    break
                tail = buf[limit:]
                base += limit
        files.append({"path": os.path.abspath(path), "size": size, "sha256": digest.hexdigest()})
    return ScanResult(counts, files)


def _scan_buffer(buf, base, limit, patterns, words, keys, bitmap, multiplier, shift_bits, stride, counts):
    for offset in range(0, 8, stride):
        n = (len(buf) - offset) // 8
        if n <= 0:
            continue
        array = np.frombuffer(buf, dtype="<u8", count=n, offset=offset)
        candidates = np.flatnonzero(bitmap[(array * multiplier) >> shift_bits])
        if not len(candidates):
            continue
        values = array[candidates]
        hits = candidates[np.isin(values, keys)]
        for i in hits.tolist():
            position = offset + 8 * i
            for index, shift in words[int(array[i])]:
                start = position - shift
                pattern = patterns[index]
                if 0 <= start < limit and buf[start:start + len(pattern)] == pattern:
                    counts[index] += 1


def text_summary(receipt: dict) -> str:
    """The receipt as a few human-readable lines."""
    request = receipt.get("request") or {}
    if request.get("command") == "delete":
        what = f"delete from {request['source']} where {request['predicate']}"
    else:
        what = "purge"
    lines = [f"receipt {receipt['id']} ({receipt['status']}), {receipt.get('created_at', '?')}: {what}"]
    deleted = receipt.get("deleted")
    if deleted:
        rows = ", ".join(f"{k} {v}" for k, v in deleted.get("sources", {}).items())
        views = ", ".join(f"{k} -{v['deleted']} +{v['inserted']}" for k, v in deleted.get("views", {}).items())
        lines.append(f"  rows deleted: {rows or 'none'}" + (f"; views: {views}" if views else ""))
    if receipt.get("completes"):
        lines.append(f"  completes pending receipts: {', '.join(map(str, receipt['completes']))}")
    if receipt.get("completed_by"):
        lines.append(f"  completed by the purge of receipt {receipt['completed_by']}")
    for checked in receipt.get("files", []):
        lines.append(f"  file checked: {checked['path']}, {checked['size']} bytes, sha256 {checked['sha256']}")
    fp = receipt.get("fingerprints")
    if fp:
        where = f" ({fp.get('found_in_tables', 0)} in table rows, {fp.get('found_in_file_bytes', 0)} in file bytes)" \
            if fp["found"] else ""
        lines.append(f"  fingerprints: {fp['scanned']} scanned ({fp['text']} text of >= {fp['min_length']} bytes, "
                     f"{fp['numeric']} numeric), {fp['found']} found{where}"
                     + (f", {fp['still_live']} left out (still held by live rows)" if fp.get("still_live") else ""))
        if fp.get("note"):
            lines.append(f"  note: {fp['note']}")
    purge = receipt.get("purge")
    if purge:
        lines.append(f"  purge: {purge['bytes_before']} -> {purge['bytes_after']} bytes in {purge['seconds']:.3f} s "
                     f"(copy {purge['copy_seconds']:.3f} s, table search {purge.get('check_seconds', 0):.3f} s, "
                     f"byte scan {purge['scan_seconds']:.3f} s)")
    lines.append("  " + verdict(receipt))
    return "\n".join(lines)


def verdict(receipt: dict) -> str:
    if receipt["status"] == "pending":
        return "PENDING: the purge did not complete; the deleted rows may still be in the file (run `ivm purge`)"
    found = (receipt.get("fingerprints") or {}).get("found", 0)
    if found:
        return f"NOT ERASED: {found} fingerprint(s) of deleted rows are still in the file"
    if not (receipt.get("fingerprints") or {}).get("scanned"):
        return "ok: the file was rewritten with live rows only (no fingerprints of deleted rows to look for)"
    return "ok: no fingerprint of the deleted rows was found in the file"


def failed(receipt: dict) -> bool:
    return receipt["status"] == "pending" or bool((receipt.get("fingerprints") or {}).get("found"))
