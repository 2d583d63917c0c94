"""Plans of deployed views kept in the database file, so that opening it does not plan every view again.

Every ``ivm`` command opens the file, and planning is not cheap: the 99 TPC-DS queries took 21 s to plan
again at each open, more than a deletion. Planning is a pure function: a view's plan follows from its SQL, the
columns DuckDB gives it, the schema of the relations it may read, the macros of the database, the pinned
settings and the code of ivm, sqlglot and DuckDB. An entry is stored under a hash of exactly those, so it is
used only where planning again would give the same plan; anything else (a new ivm, a reloaded source, a
changed macro) is a miss, and the view is planned as before. ``IVM_PLAN_CACHE=check`` plans again on every
hit and raises if the two differ (the test suite runs that way); ``IVM_PLAN_CACHE=off`` never reads entries.

Entries are JSON of a closed set of classes (ivm's plan nodes, sqlglot expressions), never pickle: opening a
database file someone else made must not run code from it. Nor SQL: a sqlglot tree renders as any text, so
every entry is signed with a key of the user's (:mod:`ivm.store.signing`) and one that does not check is not
read. A plan that does not encode is just not stored.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot import serde

from ivm.errors import IvmError
from ivm.plan import nodes
from ivm.plan.macros import written_calls
from ivm.sql import INTERNAL_SCHEMA
from ivm.store import signing

TABLE = f'"{INTERNAL_SCHEMA}"."__plans"'
FORMAT = 1  # raise when the encoding below changes
_NODES = {cls.__name__: cls for cls in (
    nodes.Scan, nodes.Branch, nodes.SpjStage, nodes.StateColumn, nodes.AggregateStage, nodes.RecomputeStage,
    nodes.Lookup, nodes.RowBranch, nodes.PerRowStage, nodes.KeyedScan, nodes.PartitionStage, nodes.OrderKey,
    nodes.TopKStage, nodes.ViewPlan)}


class Unencodable(Exception):
    """A value outside the closed set of classes an entry may hold."""


def mode() -> str:
    """``on`` (default), ``check`` or ``off``, from ``IVM_PLAN_CACHE``."""
    value = os.environ.get("IVM_PLAN_CACHE", "on").strip().lower() or "on"
    if value not in ("on", "check", "off"):
        raise IvmError(f"IVM_PLAN_CACHE must be on, check or off, not {value!r}")
    return value


def ensure(con) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (name VARCHAR PRIMARY KEY, key VARCHAR, plan VARCHAR)")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of ivm's own source files and the versions of what plans depend on: any change is a miss."""
    digest = hashlib.sha256(f"{FORMAT} {duckdb.__version__} {sqlglot.__version__} {sys.version_info[:2]}".encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key(name: str, query: exp.Query, sql: str, fallback: str | None, described: list, schema: dict,
        macros: dict, settings: dict) -> str:
    """The hash of everything planning view ``name`` reads: of the schema, the relations its query names (a
    view deployed or dropped beside it does not change its key), or all of them where the database has
    macros (whose bodies may read others)."""
    named = {table.name.lower() for table in query.find_all(exp.Table)}
    relations = sorted((relation, list(columns.items())) for relation, columns in schema.items()
                       if macros or relation.lower() in named)
    inputs = [code_fingerprint(), name, sql, fallback, [list(map(str, row[:2])) for row in described],
              relations, sorted(macros.items()), sorted(settings.items())]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


# The row that vouches for all the others: a hash of every definition in the database (tables with their
# column types and collations, views, functions and macros, ivm's catalog) when they were stored. While it
# matches, opening reads every plan and the schema from the file without asking DuckDB anything else.
WHOLE = "__database"
_VIEWS = f'SELECT name, position, sql, fallback FROM "{INTERNAL_SCHEMA}"."__views" ORDER BY position'
_DEFINITIONS = (
    "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = current_database() "
    "AND NOT temporary ORDER BY ALL",
    "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = current_database() "
    "AND NOT internal AND NOT temporary ORDER BY ALL",
    _VIEWS,
    f'SELECT name FROM "{INTERNAL_SCHEMA}"."__sources" ORDER BY name',
)


def fingerprint(con, settings: dict) -> str:
    """The hash :data:`WHOLE` is stored under (~30 ms for 99 TPC-DS views)."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for query in _DEFINITIONS:
        rows = con.execute(query).fetchall()
        digest.update(json.dumps(rows, default=str).encode())
        if query == _VIEWS:
            digest.update(json.dumps(_functions(con, [sql for _, _, sql, _ in rows]), default=str).encode())
    digest.update(json.dumps(sorted(settings.items())).encode())
    return digest.hexdigest()


def _functions(con, view_sqls: list[str]) -> list:
    """The macros, and the functions of no extension (Python UDFs among them) that the views call by name: a
    missing or changed UDF is noticed, while a UDF registered for something else (a feature set's) or an
    extension DuckDB loaded on the way changes nothing."""
    called = sorted({name for sql in view_sqls for name in written_calls(sql)})
    return con.execute(
        "SELECT function_name, function_type, parameter_types::VARCHAR, return_type, macro_definition "
        "FROM duckdb_functions() WHERE NOT internal OR (extension_name IS NULL AND list_contains(?, "
        "lower(function_name))) ORDER BY ALL", [called]).fetchall()


def whole_entry(con, settings: dict, keys: dict[str, str], schema: dict) -> tuple[str, str]:
    """The :data:`WHOLE` entry for views whose entries have ``keys`` (in deployment order) over ``schema``."""
    return fingerprint(con, settings), json.dumps({"keys": keys, "schema": schema})


def restore(con, stored: dict[str, tuple[str, str]], settings: dict, views: list[str]):
    """:func:`restorable`, except in check mode, where every view is planned again."""
    return restorable(con, stored, settings, views) if mode() == "on" else None


def restorable(con, stored: dict[str, tuple[str, str]], settings: dict, views: list[str]):
    """(plans, schema, keys) as stored, when the database's definitions are what they were then and every
    view's entry is there; else None."""
    state = saved_state(con, stored, settings)
    if state is None or list(state["keys"]) != views:
        return None
    plans = {}
    for name, entry_key in state["keys"].items():
        entry_key_stored, text = stored.get(name, (None, None))
        plan = decoded_or_none(text) if entry_key_stored == entry_key else None
        if plan is None or plan.name != name:
            return None
        plans[name] = plan
    return plans, state["schema"], state["keys"]


def saved_state(con, stored: dict[str, tuple[str, str]], settings: dict) -> dict | None:
    """The stored keys and schema, if the definitions in the database still have the stored fingerprint."""
    whole = stored.get(WHOLE)
    if whole is None or whole[0] != fingerprint(con, settings):
        return None
    try:
        state = json.loads(whole[1])
    except ValueError:
        return None
    if not (isinstance(state, dict) and isinstance(state.get("keys"), dict) and isinstance(state.get("schema"), dict)):
        return None
    return state


def read(con) -> dict[str, tuple[str, str]]:
    """name -> (key, encoded plan) of every stored entry whose signature checks (:mod:`ivm.store.signing`);
    nothing when the cache is off."""
    if mode() == "off":
        return {}
    entries = {}
    for name, stored_key, plan in con.execute(f"SELECT name, key, plan FROM {TABLE}").fetchall():
        entry_key = signing.verified(name, stored_key, plan)
        if entry_key is not None:
            entries[name] = (entry_key, plan)
    return entries


def write(con, entries: dict[str, tuple[str, str]]) -> None:
    """Store ``entries`` (name -> (key, encoded plan)), signed, replacing a view's older entry; inside the
    caller's transaction. Without a signing key nothing is stored (it could not be read back)."""
    rows = [[name, signing.signed(name, entry_key, plan), plan] for name, (entry_key, plan) in entries.items()]
    rows = [row for row in rows if row[1] is not None]
    if rows:
        con.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?)", rows)


def forget(con, names) -> None:
    """Drop the entries of views that are no longer deployed; inside the caller's transaction."""
    for name in names:
        con.execute(f"DELETE FROM {TABLE} WHERE name = ?", [name])


# -- the encoding ---------------------------------------------------------------------------------------
def encode(plan: nodes.ViewPlan) -> str:
    """``plan`` as JSON text; raises :class:`Unencodable` for a value outside the closed set."""
    try:
        return json.dumps(_encoded(plan), separators=(",", ":"))
    except (TypeError, ValueError) as error:  # e.g. an expression whose meta holds a set
        raise Unencodable(str(error)) from None


def decode(text: str) -> nodes.ViewPlan:
    """The plan :func:`encode` wrote; raises ValueError (or KeyError, TypeError) for anything else."""
    plan = _decoded(json.loads(text))
    if not isinstance(plan, nodes.ViewPlan):
        raise ValueError("not a plan")
    return plan


def encode_value(value):
    """A plan value (None, a number, text, a tuple or list of them, a plan node, a sqlglot tree) as JSON data;
    raises :class:`Unencodable` for anything else."""
    return _encoded(value)


def decode_value(data):
    """What :func:`encode_value` wrote (ValueError, KeyError, TypeError for anything else)."""
    return _decoded(data)


def _encoded(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"t": [_encoded(v) for v in value]}
    if isinstance(value, list):
        return {"l": [_encoded(v) for v in value]}
    if isinstance(value, exp.Expression):
        return {"x": [_without_positions(payload) for payload in serde.dump(value)]}
    if _NODES.get(type(value).__name__) is type(value):
        return {"n": type(value).__name__,
                "f": {f.name: _encoded(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    raise Unencodable(f"a {type(value).__name__} in a plan")


# where the parser met a token: it differs between a view parsed from a file of views (at deploy) and alone
# (at open), and nothing is rendered from it
_POSITIONS = frozenset({"line", "col", "start", "end"})


def _without_positions(payload: dict) -> dict:
    meta = payload.get(serde.META)
    if meta and not _POSITIONS.isdisjoint(meta):
        payload = dict(payload)
        kept = {k: v for k, v in meta.items() if k not in _POSITIONS}
        if kept:
            payload[serde.META] = kept
        else:
            del payload[serde.META]
    if payload.get(serde.TYPE):
        payload = {**payload, serde.TYPE: [_without_positions(p) for p in payload[serde.TYPE]]}
    return payload


def _decoded(value):
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ValueError("a bare list")
        return value
    (tag, inner), *more = value.items()
    if tag == "n" and set(value) == {"n", "f"}:
        return _NODES[value["n"]](**{field: _decoded(v) for field, v in value["f"].items()})
    if more:
        raise ValueError(f"unknown entry {sorted(value)}")
    if tag == "t":
        return tuple(_decoded(v) for v in inner)
    if tag == "l":
        return [_decoded(v) for v in inner]
    if tag == "x":
        return _expression(inner)
    raise ValueError(f"unknown tag {tag!r}")


def _expression(payloads: list) -> exp.Expression:
    """sqlglot's loader imports the module a payload names and calls its class: only sqlglot's own
    expression classes may be named."""
    for payload in payloads:
        for kind in (payload.get(serde.CLASS), *_type_classes(payload.get(serde.TYPE))):
            if kind is not None and kind != serde.DATA_TYPE and not _expression_class(kind):
                raise ValueError(f"not a sqlglot expression class: {kind!r}")
    loaded = serde.load(payloads)
    if not isinstance(loaded, exp.Expression):
        raise ValueError("not an expression")
    return loaded


def _type_classes(payloads) -> list:
    """The class names inside an annotated type (itself a dumped expression)."""
    if not payloads:
        return []
    return [kind for payload in payloads
            for kind in (payload.get(serde.CLASS), *_type_classes(payload.get(serde.TYPE)))]


@functools.lru_cache(maxsize=None)
def _expression_class(kind: str) -> bool:
    module, _, name = kind.rpartition(".")
    found = getattr(exp, name, None)
    return (isinstance(found, type) and issubclass(found, exp.Expression)
            and (not module or (module.startswith("sqlglot.expressions") and found.__module__ == module)))


def decoded_or_none(text: str | None) -> nodes.ViewPlan | None:
    """:func:`decode`, or None for text that is not a stored plan (then the view is planned again)."""
    if text is None:
        return None
    try:
        return decode(text)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def encoded_or_none(plan: nodes.ViewPlan) -> str | None:
    """:func:`encode`, or None for a plan that does not encode."""
    try:
        return encode(plan)
    except Unencodable:
        return None
