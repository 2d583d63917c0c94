"""Delta statement texts kept in the database file beside the plans (:mod:`ivm.store.plan_cache`).

Each ``ivm delete`` is a process of its own, and its first deletion renders every statement it runs with
sqlglot: ~0.2 s of a 0.5 s deletion over the analytics workload's 18 views, ~0.8 s for the 99 TPC-DS views.
The texts follow from the plans and ivm's code alone, so they are stored in one entry under the fingerprint of
the database's definitions that vouches for the stored plans; an open that restores those plans adopts the
texts too (anything else, a new ivm or a changed definition, renders them again). The entry is signed like
every plan (:mod:`ivm.store.signing`), and each text is also checked to be one statement of a kind delta rules
run before it is used (:meth:`ivm.delta.templates.Templates.statement`): never a COPY or an ATTACH.
"""
from __future__ import annotations

import json
from typing import Hashable

from ivm.store import plan_cache

NAME = "__templates"  # the entry's name among the plans (view names starting with __ are reserved)
FORMAT = 2  # keys in plan_cache's encoding of values


def encode(entries: dict[Hashable, str]) -> str:
    """``entries`` (key -> text) as JSON, keys encoded as plan values are; a key that does not encode is left
    out (its text is rendered again next time)."""
    rows = []
    for key, text in entries.items():
        try:
            rows.append([plan_cache.encode_value(key), text])
        except plan_cache.Unencodable:
            continue
    return json.dumps({"format": FORMAT, "texts": rows}, separators=(",", ":"))


def decode(text: str | None) -> dict[Hashable, str]:
    """The entries :func:`encode` wrote; nothing for text that is not such an entry."""
    try:
        value = json.loads(text or "")
        if not (isinstance(value, dict) and value.get("format") == FORMAT):
            return {}
        return {plan_cache.decode_value(key): sql for key, sql in value["texts"] if isinstance(sql, str)}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}
