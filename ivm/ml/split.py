"""Stable train/test split: a row is in the test set iff a hash of its source lineage and the seed says so.

The hash is MD5 (``md5_number`` in DuckDB: the digest read as a little-endian 128-bit integer) of the text
``"seed:s0:s1:..."`` where ``s0, s1, ...`` are the row's source row ids; the row is a test row iff the hash
modulo 1,000,000 is below ``test_fraction * 1,000,000``. It depends on nothing but the row itself, so a
deletion never moves a surviving row between train and test, and a full rerun assigns every row the same
side. MD5 keeps it reproducible outside DuckDB and across DuckDB versions:

Example (seed 7, a row built from source rows 1 and 3):
    >>> import hashlib
    >>> int.from_bytes(hashlib.md5(b"7:1:3").digest(), "little") % RESOLUTION < threshold(0.2)
    True
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {is_test(['1', '3'], 7, 0.2)}").fetchall()
    [(True,)]
"""
from __future__ import annotations

RESOLUTION = 1_000_000


def threshold(test_fraction: float) -> int:
    return round(test_fraction * RESOLUTION)


def is_test(lineage: list[str], seed: int, test_fraction: float) -> str:
    """SQL: TRUE for test rows; ``lineage`` are SQL expressions of the source row ids, in order."""
    parts = ", ".join([f"'{int(seed)}'", *lineage])
    return f"(md5_number(concat_ws(':', {parts})) % {RESOLUTION} < {threshold(test_fraction)})"
