"""Token hashing of text: the SQL that turns a text into ``dims`` token counts.

Lower case, split on every run of characters that are neither letters nor digits, ``hash(token) % dims``
(DuckDB's hash function), counted per bucket. It depends on the row's text alone, so it is computed once per
row lineage when the row enters the feature set and stored, like a UDF value.

Example:
    >>> import duckdb
    >>> duckdb.sql("SELECT " + counts("'Good good, bad x'", 4)).fetchall()[0][0][0] >= 0
    True
"""
from __future__ import annotations


def counts(text: str, dims: int) -> str:
    """SQL of a ``DOUBLE[dims]`` of token counts of the SQL text expression ``text`` (NULL: all 0)."""
    tokens = f"list_filter(string_split_regex(lower(CAST({text} AS VARCHAR)), '[^\\p{{L}}\\p{{N}}]+'), lambda t: t <> '')"
    buckets = f"list_transform({tokens}, lambda t: CAST(hash(t) % {dims} AS INTEGER))"
    per_bucket = f"list_transform(range({dims}), lambda j: COALESCE(len(list_filter({buckets}, lambda b: b = j)), 0))"
    return f"CAST({per_bucket} AS DOUBLE[{dims}])"
