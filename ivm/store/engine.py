"""The :class:`Database`: one DuckDB file with sources, deployed views and their maintenance.

Every public method is one user-level operation and either completes or leaves the file as it was:
deployments and deletions each run in a single transaction.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import functools
import os
import re
import tempfile
import time
import weakref
from pathlib import Path
from typing import Callable, Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.feather as pa_feather
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from ivm import audit, compare
from ivm import purge as erasure
from ivm import receipt as receipts
from ivm.delta import materialise
from ivm.delta.templates import Templates
from ivm.errors import IvmError, as_interrupt, commit, first_line, interrupted
from ivm.explain import explain_plan
from ivm.ml import features as ml_features
from ivm.plan.build import fallback_plan, plan_view, raw_view, referenced_relations
from ivm.plan.macros import SQL_CALL_KEYWORDS, builtin_functions, check_macros_read_only, macros_called, written_calls
from ivm.plan.normalise import sqlglot_schema
from ivm.plan.nodes import PerRowStage, RecomputeStage, SpjStage, Stage, ViewPlan
from ivm.plan.parse import parse_predicate, parse_views, typed_literals_parenthesised
from ivm.progress import Report, reported
from ivm.sql import (DIALECT, INTERNAL_SCHEMA, RAW_SCHEMA, RID, column, deduplicated_names, internal_table,
                     quoted_identifier, render, user_table)
from ivm.store import catalog, costs, csv_options, plan_cache, settings, template_cache, wal
from ivm.store.coverage import strategy as coverage_strategy
from ivm.store.maintain import Change, Maintainer, deferrable
from ivm.userfile import load_module


def connect(path: str | os.PathLike = ":memory:", *, indexes: bool = True, udfs=None) -> "Database":
    """Open (or create) an ivm database file.

    ``indexes`` creates ART indexes on the lineage columns that deletions probe; they cost build time
    and memory and make small deletions on large tables several times faster.

    ``udfs`` registers Python functions that views call, before the stored views are planned: a path to a
    Python file defining ``register_udfs(con)`` (as ``ivm rewrite`` writes it) or such a callable.
    """
    return Database(path, indexes=indexes, udfs=udfs)


DATA_SUFFIXES = {".csv", ".tsv", ".parquet", ".json", ".jsonl", ".ndjson", ".xlsx", ".arrow", ".feather"}


def check_database_file(path: str) -> None:
    """Refuse a data file given where the database belongs (``ivm load shop.csv t=x.csv``): DuckDB opens such
    a path as a temporary database, so the load would vanish, and a purge would overwrite the file."""
    if path.startswith(":memory:"):
        return
    file = Path(path)
    if file.suffix.lower() in DATA_SUFFIXES:
        raise IvmError(f"{path} names a {file.suffix.lower()[1:].upper()} file, not a database: the DuckDB database "
                       f"file comes first (`ivm load shop.duckdb NAME={path}`)")
    if file.is_file() and file.stat().st_size:
        with open(file, "rb") as handle:
            header = handle.read(12)
        if header[8:12] != b"DUCK":
            raise IvmError(f"{path} is not a DuckDB database file")


def open_error(path, error: duckdb.Error) -> IvmError:
    """The one-line error for a database DuckDB would not open (another process holding its lock, mostly)."""
    if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
        return IvmError(f"database {path} is in use by another process; close it and retry")
    return IvmError(f"cannot open database {path}: {first_line(error)}")


def _blank(path: Path) -> bool:
    """Whether a file holds nothing but white space (a CSV of blank lines loads as one NULL column); only
    small CSV files are read to tell."""
    size = path.stat().st_size
    if size == 0:
        return True
    return size <= 1 << 16 and _file_kind(path) != "parquet" and not path.read_bytes().strip()


def _open_only(method):
    """Refuse a call on a closed database in one line (DuckDB would raise ConnectionException), and one on
    a database whose views could not all be planned (their Python functions missing), except for reading
    receipts: every other call loads, maintains or reads views."""
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        if self._closed:
            raise IvmError(f"database {self.path} is closed; open it again with ivm.connect()")
        if method.__name__ not in _WITHOUT_PLANS:
            self._refuse_unplanned()
        return method(self, *args, **kwargs)
    return checked


_WITHOUT_PLANS = {"receipt"}


class MissingFunction(IvmError):
    """A view calls a function this session does not have (a Python UDF not passed with ``udfs=``)."""


class Database:
    def __init__(self, path: str | os.PathLike = ":memory:", *, indexes: bool = True, udfs=None,
                 set_up: bool = True):
        """``set_up=False``: refuse a database ivm has not set up yet instead of creating its tables there
        (the CLI's commands other than load: they must not write into someone else's DuckDB file)."""
        if not isinstance(path, (str, os.PathLike)):
            raise IvmError(f"the database path must be text or a path, not {type(path).__name__}")
        self.path = str(path)
        if _file_key(self.path) is not None:
            # the file itself: a purge replaces it (not a symlink to it), after a chdir too
            self.path = os.path.realpath(self.path)
        self._set_up = set_up
        self._log = wal.log_path(self.path)  # absolute now: the process may change directory later
        self.indexes = indexes
        self.load_notes: list[str] = []  # what the latest load changed besides the data (an index it dropped)
        self._next_audit_id: int | None = None  # known after this handle's first deletion (audit.record)
        self._committed = False  # whether the running change has committed (see _begin, _commit)
        self._register_udfs = _udf_registrar(udfs)
        self._closed, key = True, _file_key(self.path)
        self._load_links: list[tempfile.TemporaryDirectory] = []  # see _reader
        other = _OPEN.get(key) if key else None
        if other is not None and not other._closed:  # it would not see the views the other one deploys
            raise IvmError(f"database {self.path} is already open in this process; use that handle (or close it "
                           "first)")
        check_database_file(self.path)
        try:
            self.con = duckdb.connect(self.path)
        except duckdb.Error as error:
            raise open_error(self.path, error) from None
        try:
            self._open(key)
        except BaseException:
            self.con.close()  # a half-opened handle holds nothing
            raise

    def _open(self, key: str | None) -> None:
        settings.quiet(self.con)
        if not self._set_up and not catalog.present(self.con):
            raise IvmError(f"{self.path} is a DuckDB database that ivm has not set up (nothing was loaded with "
                           f"`ivm load {self.path} NAME=PATH`)")
        self._register_udfs(self.con)
        wal.configure(self.con, self.path)
        catalog.ensure(self.con)
        plan_cache.ensure(self.con)
        self.settings = settings.pin(self.con)  # the file's time zone, not this process's
        ml_features.ensure(self.con)  # [ml] feature sets
        audit.ensure(self.con)        # [audit] the deletion log
        costs.ensure(self.con)        # rebuild costs of views, for delete(strategy="auto")
        self.removed_leftovers = erasure.cleanup(self.path)  # [erasure] files of an interrupted purge
        self._schema_cache: dict | None = None
        self._sources_cache: list[str] | None = None
        self._plans: dict[str, ViewPlan] = {}
        self._unplanned: dict[str, str] = {}  # view -> why it cannot be planned in this session
        self._templates = Templates()  # delta statement texts, rendered once per plan
        self._stored_plans: dict[str, tuple[str, str]] = {}  # name -> (key, plan) in the file (plan_cache.py)
        self._unsaved_plans: dict[str, tuple[str, str]] = {}
        self._plan_keys: dict[str, str] = {}  # view -> the key of its plan, where the plan encodes
        self._plans_dirty = False  # plans to store after the next change commits (_save_plans)
        # the hash of the definitions the stored plans were made under, while it is also that of the database's
        # definitions now (None when not known): statement texts are stored under it (template_cache.py)
        self._fingerprint: str | None = None
        self._templates_saved = 0  # Templates.rendered when the texts were last stored or adopted
        self._replan()
        self._closed = False
        if key:
            _OPEN[key] = self

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; DuckDB checkpoints the file here, after every change has committed (or rolled
        back), so an interrupt now says so instead of leaving the outcome unknown."""
        try:
            self.con.close()
        except BaseException as error:
            if interrupted(error):
                raise as_interrupt(error, "the command had finished (a change it made is committed); closing the "
                                          "file was interrupted, and the next open completes DuckDB's checkpoint") from None
            raise
        finally:
            self._closed = True

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- catalog -----------------------------------------------------------------------------------
    @property
    def sources(self) -> list[str]:
        if self._sources_cache is None:
            self._sources_cache = catalog.sources(self.con)
        return self._sources_cache

    @property
    def views(self) -> list[str]:
        return list(self.plans)

    @property
    def plans(self) -> dict[str, ViewPlan]:
        """The deployed views' plans. Refused while a view could not be planned in this session (a Python
        function it calls was not passed): maintaining, comparing or explaining views needs every plan, while
        reading the audit log, the feature sets and receipts needs none."""
        self._refuse_unplanned()
        return self._plans

    def _refuse_unplanned(self) -> None:
        """Raise why the first view that could not be planned in this session cannot be (its function)."""
        if self._unplanned:
            raise IvmError(next(iter(self._unplanned.values())))

    def _schema(self) -> dict[str, dict[str, str]]:
        """Columns and types of every source and view, cached until a load or deploy changes them."""
        if self._schema_cache is None:
            self._schema_cache = {name: catalog.collated_columns(self.con, name) for name in [*self.sources, *self._plans]}
        return self._schema_cache

    def _add_to_schema(self, name: str) -> None:
        """Add the view just planned to the cached schema (the next view may read it); reading the columns
        of every relation again for each view made reopening a database with many views take seconds."""
        if self._schema_cache is not None:
            self._schema_cache[name] = catalog.collated_columns(self.con, name)

    def _replan(self) -> None:
        self._templates.clear()
        self._plans, self._unplanned, self._plan_keys, self._fingerprint = {}, {}, {}, None
        self._stored_plans = plan_cache.read(self.con)
        restored = plan_cache.restore(self.con, self._stored_plans, self.settings,
                                      [name for name, *_ in catalog.views(self.con)])
        if restored is not None:  # nothing was defined since the plans were stored
            self._plans, self._schema_cache, self._plan_keys = restored
            self._adopt_templates(check=False)
            return
        macros = self._user_macros()
        for name, sql, fallback in catalog.views(self.con):
            query = sqlglot.parse_one(typed_literals_parenthesised(sql), read=DIALECT)
            missing = next((self._unplanned[r] for r in referenced_relations(query) if r in self._unplanned), None)
            if missing is not None:  # it reads a view that cannot be planned: nor can it
                self._unplanned[name] = missing
                continue
            try:
                self._plans[name] = self._plan(name, query, sql, macros, fallback)
            except MissingFunction as error:  # opened without the views' UDFs: only reading commands work
                self._unplanned[name] = str(error)
                continue
            self._add_to_schema(name)
        if plan_cache.mode() == "check":
            self._check_restorable()
        self._plans_dirty = True

    def _check_restorable(self) -> None:
        """Check mode: what :func:`plan_cache.restore` would have read instead of planning (the stored schema,
        and each view's plan stored under the key the whole-database entry names) equals what was planned now.
        The keys themselves may differ: a key covers more than a plan reads (every relation, with macros)."""
        restored = plan_cache.restorable(self.con, self._stored_plans, self.settings, list(self._plans))
        if restored is None:
            return  # the fast path would not have been taken
        plans, schema, _ = restored
        differing = [name for name, plan in plans.items()
                     if plan_cache.encoded_or_none(plan) != plan_cache.encoded_or_none(self._plans[name])]
        if differing or schema != self._schema():
            raise IvmError(f"the plans and schema an open reads from the file differ from planning again "
                           f"({', '.join(differing) or 'the schema'}; IVM_PLAN_CACHE=check)")
        self._adopt_templates(check=True)  # each is compared with rendering it again when first needed

    def _adopt_templates(self, *, check: bool) -> None:
        """Once the stored plans are known to be those of this database: the statement texts stored with them
        (:mod:`ivm.store.template_cache`)."""
        self._fingerprint = self._stored_plans[plan_cache.WHOLE][0]
        stored_key, text = self._stored_plans.get(template_cache.NAME, (None, None))
        if stored_key == self._fingerprint:
            self._templates.adopt(template_cache.decode(text), check=check)
        self._templates_saved = self._templates.rendered

    def _save_plans(self, *, definitions_changed: bool = False) -> None:
        """Store the plans made since the last save, and the entry that vouches for all of them
        (:mod:`ivm.store.plan_cache`), in a transaction of their own after a change committed (a command that
        changes nothing, or fails, leaves the file as it was): failing to store them only means planning again
        at the next open. ``definitions_changed``: the change (a deploy, drop or load) altered what the entry
        vouching for all plans hashes, so it is stored again even if no plan was made."""
        if not (self._plans_dirty or definitions_changed):
            return
        self._plans_dirty, self._fingerprint = False, None
        unsaved, self._unsaved_plans = self._unsaved_plans, {}
        try:
            entries = dict(unsaved)
            if not self._unplanned and self._schema_cache is not None and set(self._plan_keys) == set(self._plans):
                keys = {name: self._plan_keys[name] for name in self._plans}
                entries[plan_cache.WHOLE] = plan_cache.whole_entry(self.con, self.settings, keys, self._schema_cache)
        except duckdb.Error:
            return
        whole = entries.get(plan_cache.WHOLE)
        if (whole == self._stored_plans.get(plan_cache.WHOLE) and not unsaved) or self._store(entries):
            self._fingerprint = whole[0] if whole else None

    def _save_templates(self) -> None:
        """Store the statement texts with the plans once this process rendered new ones, after a deletion
        committed, under the fingerprint the stored plans vouch for (:mod:`ivm.store.template_cache`)."""
        if self._fingerprint is None or self._templates.rendered == self._templates_saved:
            return
        self._templates_saved = self._templates.rendered
        self._store({template_cache.NAME: (self._fingerprint, template_cache.encode(self._templates.entries()))})

    def _store(self, entries: dict[str, tuple[str, str]]) -> bool:
        """Write plan cache entries in a transaction of their own; whether they were (failing to store them
        only means planning or rendering again at the next open)."""
        try:
            self.con.begin()
            plan_cache.write(self.con, entries)
            self.con.commit()
        except BaseException as error:  # an interrupt too: no transaction of ivm's may stay open
            with contextlib.suppress(duckdb.Error):
                self.con.rollback()
            if isinstance(error, duckdb.Error):
                return False
            raise
        self._stored_plans.update(entries)
        return True

    def _plan(self, name: str, query: exp.Query, sql: str, macros: dict[str, str],
              fallback: str | None = None) -> ViewPlan:
        """``macros``: :meth:`_user_macros`, read once per deployment (a read costs ~35 ms)."""
        schema = self._schema()
        unknown = sorted(referenced_relations(query) - set(schema))
        if unknown:
            if unknown[0] in self._users_own_relations():
                raise IvmError(f"view {name} reads {unknown[0]}, a table of this database that is not an ivm source "
                               f"(ivm maintains views over what it loaded: ivm load DB {unknown[0]}=FILE, or "
                               f"db.load({unknown[0]!r}, ...)); sources: {', '.join(self.sources) or 'none'}")
            raise IvmError(f"view {name} reads unknown table {unknown[0]}; "
                           f"known tables: {', '.join(sorted(schema)) or 'none'}")
        try:
            described = self.con.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as error:
            if "Function with name" in str(error):
                raise MissingFunction(f"view {name}: {first_line(error)} (a Python function? pass it with "
                                      "--udfs FILE / udfs=...; ivm log and ivm receipt work without it)") from None
            hint = ""
            if re.search(r'column (named )?"rowid"', str(error), re.IGNORECASE):
                hint = (" (rowid is the physical row number of a DuckDB table; ivm keeps sources in tables of its "
                        "own, where it would number other rows: select a key column instead)")
            raise IvmError(f"view {name}: {first_line(error)}{hint}") from None
        entry_key = plan_cache.key(name, query, sql, fallback, described, schema, macros, self.settings)
        stored_key, stored = self._stored_plans.get(name, (None, None))
        cached = plan_cache.decoded_or_none(stored) if stored_key == entry_key else None
        if cached is not None and cached.name != name:  # not this view's (an edited table): plan it
            cached = None
        if cached is not None and plan_cache.mode() != "check":
            self._plan_keys[name] = entry_key
            return cached
        plan = self._planned(name, query, sql, macros, fallback, described, schema)
        try:
            encoded = plan_cache.encode(plan)
        except plan_cache.Unencodable:
            return plan  # planned again at each open, as every plan was before the cache
        self._plan_keys[name] = entry_key
        if cached is not None and encoded != stored:  # check mode: the stored plan must be the one planned now
            raise IvmError(f"view {name}: its stored plan differs from planning it again (IVM_PLAN_CACHE=check)")
        if plan_cache.mode() == "check":
            read_back = plan_cache.decoded_or_none(encoded)
            if read_back != plan or plan_cache.encoded_or_none(read_back) != encoded:
                raise IvmError(f"view {name}: its plan does not read back as written (IVM_PLAN_CACHE=check)")
        if cached is None:
            self._unsaved_plans[name] = (entry_key, encoded)
        return plan

    def _planned(self, name: str, query: exp.Query, sql: str, macros: dict[str, str], fallback: str | None,
                 described: list, schema) -> ViewPlan:
        columns = deduplicated_names([row[0] for row in described])
        called_macros = macros_called(query, macros, schema)
        if called_macros is not None:
            called, reads = called_macros
            reason = f"calls {called}, a macro defined in this database, whose body the planner does not see"
            return fallback_plan(name, query, columns, fallback or reason, sql, reads)
        if fallback:  # the user's text, ties as DuckDB picks them (a planned text DuckDB refused is not reused)
            return fallback_plan(name, query, columns, fallback, sql)
        return plan_view(name, query, schema, columns, sql)

    def _user_macros(self) -> dict[str, str]:
        """The macros (scalar and table) created in this database or session: name -> definition.

        A macro named like one of DuckDB's own functions shadows it (``CREATE MACRO encode(x) AS upper(x)``
        makes every ``encode(...)`` call the macro): ivm's maintenance SQL calls DuckDB's functions by name,
        so such a macro is refused rather than let it change what the deltas compute."""
        macros = {row[0].lower(): row[1] or "" for row in self.con.execute(
            "SELECT function_name, macro_definition FROM duckdb_functions() "
            "WHERE NOT internal AND function_type IN ('macro', 'table_macro')").fetchall()}
        if macros:
            shadowing = sorted(row[0] for row in self.con.execute(
                "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE internal "
                "AND list_contains(?, lower(function_name))", [list(macros)]).fetchall())
            if shadowing:
                raise IvmError(f"the macro {shadowing[0]} shadows DuckDB's own function {shadowing[0]}, which ivm's "
                               f"maintenance SQL calls: rename it (DROP MACRO {shadowing[0]}, then create it under "
                               "another name)")
        return macros

    @property
    def stages(self) -> list[Stage]:
        return [stage for plan in self._plans.values() for stage in plan.stages]

    # -- load --------------------------------------------------------------------------------------
    def load(self, name: str, data, *, header: bool | None = None, columns: list[str] | None = None,
             replace: bool = False, csv: Mapping[str, object] | None = None) -> int:
        """Make ``data`` (a CSV, Parquet, JSON or Arrow IPC / Feather path, a pandas DataFrame or an Arrow table)
        source table ``name``.

        ``csv``: DuckDB ``read_csv`` options for a CSV file, e.g. ``{"delim": ";", "decimal_separator": ","}``
        (:mod:`ivm.store.csv_options`)."""
        return self.load_many([(name, data)], header=header, columns={name: columns} if columns else None,
                              replace=replace, csv=csv)[_relation_name(name)]

    @_open_only
    def load_many(self, items, *, header: bool | None = None, columns: dict | None = None,
                  replace: bool = False, csv: Mapping[str, object] | None = None) -> dict[str, int]:
        """Load several sources in one transaction: all of them, or none if any fails. ``csv`` options
        apply to every CSV file among them."""
        columns = {k.lower(): v for k, v in (columns or {}).items()}
        csv_parameters = csv_options.named_parameters(csv or {})
        checked = []
        theirs = self._users_own_relations()
        for name, data in items:
            name = _relation_name(name)
            if name in self._plans:
                raise IvmError(f"{name} is a deployed view; choose another name for the source")
            exists = name in self.sources
            if not exists and name in theirs:
                raise IvmError(f"{name} already exists in this database (a table or view not made by ivm); "
                               "choose another name for the source")
            if exists and not replace:
                raise IvmError(f"source {name} exists; pass replace=True (--replace) to load it again")
            owner = next((p.name for p in self._plans.values() for s in p.stages if s.name == name), None)
            if owner is not None:
                raise IvmError(f"{name} is the name of an internal table of view {owner}; choose another name")
            if exists and any(name in s.inputs for s in self.stages):
                raise IvmError(f"source {name} is read by deployed views; it cannot be replaced")
            if exists and any(name in ml_features.relations_read(fs) for fs in ml_features.sets(self).values()):
                raise IvmError(f"source {name} is read by a feature set; it cannot be replaced "
                               "(drop the feature set first: ivm features DB --drop NAME)")
            if isinstance(data, (str, os.PathLike)) and not Path(data).is_file():
                raise IvmError(f"file {data} does not exist")
            refused = _not_data(data) if isinstance(data, (str, os.PathLike)) else None
            if refused:
                raise IvmError(refused)
            if isinstance(data, (str, os.PathLike)) and _blank(Path(data)):
                raise IvmError(f"file {data} is empty (not even a header row)")
            checked.append((name, data, exists))
        if len({name for name, _, _ in checked}) != len(checked):
            raise IvmError("the same source name is given twice")
        if csv and not any(isinstance(data, (str, os.PathLike)) and _file_kind(data) == "csv" for _, data, _ in checked):
            raise IvmError("CSV options were given, but none of the sources is a CSV file")
        csv_names = {name for name, data, _ in checked if isinstance(data, (str, os.PathLike)) and _file_kind(data) == "csv"}
        stray = sorted(set(columns) - csv_names)
        if stray:  # a typo, or a Parquet file (its columns have names): nothing would be renamed
            raise IvmError(f"column names were given for {stray[0]}, which is not a CSV source of this load "
                           f"(CSV sources: {', '.join(sorted(csv_names)) or 'none'})")
        if header is False and not csv_names:
            raise IvmError("no header was given for CSV files, but none of the sources is a CSV file")
        rows, origin, name = {}, "", ""
        dropped = []
        self._schema_cache = None
        self._begin()
        try:
            for position, (name, data, exists) in enumerate(checked):
                reader, origin = self._reader(data, header, columns.get(name), f"__ivm_load{position}",
                                              csv_parameters)
                reserved = [row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
                            if row[0].lower().startswith("__ivm_")]
                if reserved:  # the row id column, and hidden from every reader of the source
                    raise IvmError(f"column {reserved[0]} has a name reserved for ivm (starting with __ivm_); "
                                   "rename it")
                declared = [(index, cols) for index, cols in self._deletion_indexes()
                            if index.startswith(f"{name}__by_")] if exists else []
                self.con.execute(f'DROP VIEW IF EXISTS main."{name}"')
                self.con.execute(f'CREATE OR REPLACE TABLE "{INTERNAL_SCHEMA}"."{name}" AS '
                                 f'SELECT row_number() OVER () AS "{RID}", * FROM {reader}')
                cols = list(catalog.columns(self.con, name))
                self.con.execute(f'CREATE VIEW main."{name}" AS SELECT {", ".join(quoted_identifier(c) for c in cols)} '
                                 f'FROM "{INTERNAL_SCHEMA}"."{name}"')
                if self.indexes:  # deletions find the rows by predicate, then delete them by id
                    self.con.execute(f'CREATE INDEX "{name}_{RID}" ON "{INTERNAL_SCHEMA}"."{name}" ("{RID}")')
                present = {c.lower() for c in cols}
                for index_name, index_columns in declared:  # a replaced source keeps its deletion-key indexes
                    missing = [c for c in index_columns if c.lower() not in present]
                    if not missing:
                        self.con.execute(f'CREATE INDEX {quoted_identifier(index_name)} ON '
                                         f'{render(internal_table(name))} ({", ".join(map(quoted_identifier, index_columns))})')
                    else:
                        dropped.append(f"the index on {name}({', '.join(index_columns)}) is gone: the new {name} "
                                       f"has no column {', '.join(missing)} (ivm index DB {name} COLUMN to make another)")
                if not exists:
                    catalog.add_source(self.con, name, origin)
                rows[name] = self.con.execute(f'SELECT COUNT(*) FROM "{INTERNAL_SCHEMA}"."{name}"').fetchall()[0][0]
            self._commit()
            self.load_notes = dropped
        except (duckdb.Error, IvmError) as error:
            self._rollback()
            what = f"{origin} as {name}" if origin else name
            raise IvmError(f"cannot load {what}: {_load_error(error)}; nothing was loaded") from None
        except BaseException as error:  # an interrupt: before the COMMIT nothing is loaded, after it all is
            if self._committed:
                raise as_interrupt(error, "the load had committed: every source is loaded") from None
            self._rollback()
            raise as_interrupt(error, "the load was rolled back, nothing loaded") from None
        finally:
            self._sources_cache = None
            self._schema_cache = None
            while self._load_links:
                self._load_links.pop().cleanup()
            for position in range(len(checked)):
                try:
                    self.con.unregister(f"__ivm_load{position}")
                except duckdb.Error:
                    pass
        if self._plans and not self._unplanned and not self._user_macros():
            # the stored plans stay valid (no view reads a replaced source, a key covers the relations its view
            # names), but the file's definitions changed: vouch for them again, or every open plans anew
            with _after_commit("the load", self.con):
                self._schema()
                self._save_plans(definitions_changed=True)
        return rows

    # -- deletion-key indexes --------------------------------------------------------------------
    @_open_only
    def index(self, table: str, *columns: str) -> str:
        """Index source ``table`` on ``columns`` (the keys deletion requests name, e.g. a customer id).

        A deletion whose predicate compares an indexed column with ``=`` or ``IN (...)`` then finds its
        rows through DuckDB's ART index instead of scanning the table: on a 1M-row source, 10 rows go in
        about a third of the time. Range predicates still scan. Returns the index name; indexing the same
        columns again does nothing."""
        table = _relation_name(table)
        if table not in self.sources:
            raise IvmError(f"{table} is not a source table; sources: {', '.join(self.sources) or 'none'}")
        if not columns:
            raise IvmError("name at least one column to index")
        if not all(isinstance(c, str) for c in columns):
            raise IvmError("column names must be text")
        if len({c.lower() for c in columns}) != len(columns):
            raise IvmError("a column is named twice")
        known = {c.lower(): c for c in catalog.columns(self.con, table)}
        missing = [c for c in columns if c.lower() not in known]
        if missing:
            raise IvmError(f"{table} has no column {missing[0]}; columns: {', '.join(known)}")
        names = [known[c.lower()] for c in columns]
        name = self._index_name(table, names)
        existing = dict(self._deletion_indexes())
        if name in existing and [c.lower() for c in existing[name]] != [c.lower() for c in names]:
            # (b, c) and a column named b_c would share a name: the second gets one of its own
            name = f"{name}_{hashlib.sha1(repr([c.lower() for c in names]).encode()).hexdigest()[:8]}"
        try:
            self.con.execute(f'CREATE INDEX IF NOT EXISTS {quoted_identifier(name)} ON {render(internal_table(table))} '
                             f'({", ".join(quoted_identifier(n) for n in names)})')
        except duckdb.Error as error:
            raise IvmError(f"cannot index {table}({', '.join(names)}): {first_line(error)}") from None
        return name

    @_open_only
    def deletion_indexes(self) -> dict[str, str]:
        """The indexes made by :meth:`index`: name -> ``table(columns)``."""
        return {name: f"{name.split('__by_')[0]}({', '.join(cols)})" for name, cols in self._deletion_indexes()}

    def _deletion_indexes(self) -> list[tuple[str, list[str]]]:
        rows = self.con.execute("SELECT index_name, table_name, expressions FROM duckdb_indexes() "
                                "WHERE schema_name = ? ORDER BY index_name", [INTERNAL_SCHEMA]).fetchall()
        return [(name, _index_columns(expressions)) for name, table, expressions in rows
                if table in self.sources and name.startswith(f"{table}__by_")]

    @staticmethod
    def _index_name(table: str, columns) -> str:
        return f"{table}__by_{'_'.join(c.lower() for c in columns)}"

    def _reader(self, data, header, columns, alias: str, csv_parameters=()) -> tuple[str, str]:
        if not isinstance(data, (str, os.PathLike)):
            try:
                self.con.register(alias, data)
            except (TypeError, ValueError, duckdb.Error) as error:
                if type(data).__module__.split(".")[0] in ("pandas", "pyarrow", "polars"):  # a table DuckDB cannot read
                    raise IvmError(f"DuckDB cannot read this {type(data).__name__} ({first_line(error)}): convert the "
                                   "column, e.g. with astype(str)") from None
                raise IvmError(f"a {type(data).__name__} is no table: give a CSV, Parquet, JSON or Feather path, a pandas "
                               "DataFrame or an Arrow table") from None
            return alias, type(data).__name__
        path = Path(data)
        if not path.is_file():
            raise IvmError(f"file {path} does not exist")
        if any(character in str(path) for character in "*?["):  # DuckDB would read the name as a pattern
            if any(str(p).split("=")[0].strip().lower() == "filename" for p in csv_parameters):
                raise IvmError(f"the name of {path} holds * ? or [, so ivm reads it through a temporary link and "
                               "the filename option would record the link's path; rename the file or leave filename "
                               "out")
            links = tempfile.TemporaryDirectory(prefix="ivm-load-")
            self._load_links.append(links)
            suffix = path.suffix if not any(character in path.suffix for character in "*?[") else ""
            link = Path(links.name) / f"source{suffix}"
            link.symlink_to(path.resolve())
            path, shown = link, str(path)
        else:
            shown = str(path)
        literal = exp.Literal.string(str(path)).sql()
        kind = _file_kind(path)
        if kind == "parquet":  # a folder named like id=7/ is no column: the file's own values load
            return f"read_parquet({literal}, hive_partitioning = false)", shown
        if kind == "json":  # an array of objects or one object per line, also gzip-compressed
            return f"read_json({literal}, hive_partitioning = false)", shown
        if kind == "arrow":
            try:
                table = pa_feather.read_table(str(path))
            except (pa.ArrowException, OSError) as error:
                raise IvmError(f"cannot read {shown} as an Arrow IPC / Feather file: "
                               f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
            self.con.register(alias, table)
            return alias, shown
        options = []
        if header is not None:
            if not isinstance(header, bool):
                raise IvmError(f"header must be True, False or None, not {header!r}")
            options.append(f"header = {str(header).lower()}")
        if not any(str(p).split("=")[0].strip().lower() == "hive_partitioning" for p in csv_parameters):
            options.append("hive_partitioning = false")
        if columns:
            options.append("names = [" + ", ".join(exp.Literal.string(c).sql() for c in columns) + "]")
        options.extend(csv_parameters)
        return f"read_csv({', '.join([literal, *options])})", shown

    # -- deploy ------------------------------------------------------------------------------------
    @_open_only
    def deploy(self, sql: str, *, progress: Report | None = None,
               _fallbacks: dict[str, str] | None = None) -> list[str]:
        """Deploy the ``CREATE VIEW`` statements in ``sql``: plan, materialise and start maintaining them.

        If the SQL our planner produced for a view fails in DuckDB, the whole deployment is rolled back and
        retried with that view maintained by recompute (recorded, and named in ``explain``). ``progress``
        is called with ``(views done, views, name)`` before each view (:mod:`ivm.progress`)."""
        fallbacks = dict(_fallbacks or {})
        self._templates.clear()  # statement texts are per plan
        definitions = [self._without_catalog(d) for d in parse_views(sql)]
        theirs = self._users_own_relations()
        for definition in definitions:
            if definition.name in self._plans and not definition.replace:
                raise IvmError(f"view {definition.name} is deployed already; to redefine it write CREATE OR REPLACE "
                               f"VIEW {definition.name} (or drop it first: ivm drop DB {definition.name})")
            if definition.name not in self._plans and (definition.name in self.sources or definition.name in theirs):
                raise IvmError(f"{definition.name} already exists in this database")
            if definition.name.startswith("__"):
                raise IvmError(f"view name {definition.name!r} is reserved for ivm (names starting with __)")
            if '"' in definition.name:
                raise IvmError(f"view name {definition.name!r} contains a double quote; choose another name")
            if definition.name.lower() in (INTERNAL_SCHEMA, RAW_SCHEMA):  # `_ivm.k` would name ivm's schema
                raise IvmError(f"view name {definition.name!r} is the name of ivm's own schema; choose another name")
        replaced = [name for name in reversed(self._plans) if name in {d.name for d in definitions}]  # readers first
        self._check_droppable(set(replaced), "replacing")
        planned = dict(self._plans)
        current = None
        self._begin()
        try:
            for name in replaced:  # readers first; the new definitions are built from scratch below
                self._drop_plan(name)
            self._forget_plans(replaced)
            built = {}
            macros = self._user_macros()
            for definition in reported(definitions, progress, lambda d: d.name):
                current = definition.name
                fallback = fallbacks.get(current)
                check_macros_read_only(definition.query, macros, f"view {current}")
                plan = self._plan(current, definition.query, definition.sql, macros, fallback)
                self._check_names(plan)
                built[current] = self._build(plan)
                self._expose(plan)
                catalog.add_view(self.con, current, definition.sql, fallback)
                self._plans[definition.name] = plan
                self._add_to_schema(definition.name)
            costs.record_rebuilds(self.con, built, self._commit())
        except (IvmError, duckdb.Error) as error:
            self._schema_cache = None
            if self._committed:  # recording the build costs failed; the deployment stands
                raise IvmError(f"the views are deployed, but recording their build times failed: "
                               f"{first_line(error)}") from None
            self._rollback()
            self._plans, self._unsaved_plans = planned, {}
            if isinstance(error, IvmError):
                raise
            if current is not None and current not in fallbacks:
                fallbacks[current] = f"the planned SQL failed in DuckDB ({first_line(error)[:120]})"
                return self.deploy(sql, progress=progress, _fallbacks=fallbacks)
            raise IvmError(f"cannot deploy: {first_line(error)}") from None
        except BaseException as error:  # an interrupt, a failing progress callback: nothing deployed, state restored
            self._schema_cache = None
            if self._committed:  # every view is deployed, and this handle maintains it
                raise as_interrupt(error, "the deployment had committed: every view is deployed") from None
            self._rollback()
            self._plans, self._unsaved_plans = planned, {}
            raise as_interrupt(error, "the deployment was rolled back, nothing deployed") from None
        with _after_commit("the deployment", self.con):
            self._save_plans(definitions_changed=True)
            self._checkpoint_if_due()
        return [d.name for d in definitions]

    # -- drop --------------------------------------------------------------------------------------
    @_open_only
    def drop(self, *views: str) -> list[str]:
        """Stop maintaining the deployed ``views`` and remove them: their tables, lineage and indexes, and
        the view users read; in one transaction (all or none).

        Refused while a view not named here, or a feature set, reads one of them: name the readers too
        (views) or drop them first (``ivm features DB --drop NAME``). Sources are never dropped. Returns
        the dropped views, readers first."""
        if not views:
            raise IvmError("name at least one view to drop")
        names = []
        for view in views:
            if not isinstance(view, str):
                raise IvmError(f"a view name must be text, not {type(view).__name__}")
            name = view.lower()
            if name not in self._plans:
                if name in self.sources:
                    raise IvmError(f"{view} is a source table, not a view; ivm does not drop sources")
                raise IvmError(f"{view} is not a deployed view; views: {', '.join(self._plans) or 'none'}")
            if name not in names:
                names.append(name)
        self._check_droppable(set(names), "dropping")
        order = [name for name in reversed(self._plans) if name in names]  # readers before what they read
        self._begin()
        try:
            for name in order:
                self._drop_plan(name)
            self._commit()
        except duckdb.Error as error:
            self._rollback()
            raise IvmError(f"cannot drop {', '.join(order)}: {first_line(error)}; nothing was dropped") from None
        except BaseException as error:
            if self._committed:  # the views are gone, and this handle forgets them
                self._forget_plans(order)
                raise as_interrupt(error, f"the drop had committed: {', '.join(order)} dropped") from None
            self._rollback()
            raise as_interrupt(error, "the drop was rolled back, nothing dropped") from None
        self._forget_plans(order)
        with _after_commit("the drop", self.con):
            self._save_plans(definitions_changed=True)
            self._checkpoint_if_due()
        return order

    def _check_droppable(self, names: set[str], doing: str) -> None:
        """Refuse to remove ``names`` while a view outside them or a feature set reads one of them."""
        if not names:
            return
        readers = self._readers()
        for name in [n for n in self._plans if n in names]:
            outside = sorted(readers.get(name, set()) - names)
            if outside and doing == "replacing":
                raise IvmError(f"view {outside[0]} reads view {name}; replace it in the same file too (CREATE OR "
                               f"REPLACE VIEW {outside[0]} after {name}), or drop it first")
            if outside:
                raise IvmError(f"view {outside[0]} reads view {name}; dropping {name} would leave it reading "
                               f"nothing: drop them together (ivm drop DB {' '.join([*outside, name])}), or drop "
                               f"{outside[0]} first")
        for feature_set, fs in ml_features.sets(self).items():
            read = sorted(ml_features.relations_read(fs) & names)
            if read:
                how = "reads view" if read[0] == fs.spec.source else "reads, in its label, view"
                raise IvmError(f"feature set {feature_set} {how} {read[0]}; drop it first "
                               f"(ivm features DB --drop {feature_set})")

    def _drop_plan(self, name: str) -> None:
        """Inside a transaction: remove view ``name``'s exposed view, stage tables (their indexes go with
        them), verbatim-text views and bookkeeping."""
        self.con.execute(f"DROP VIEW IF EXISTS main.{quoted_identifier(name)}")
        for stage in reversed(self._plans[name].stages):
            self.con.execute(f"DROP TABLE IF EXISTS {render(internal_table(stage.name))}")
            self.con.execute(f"DROP VIEW IF EXISTS {render(raw_view(stage.name))}")
        catalog.remove_view(self.con, name)
        costs.forget(self.con, name)
        plan_cache.forget(self.con, [name])

    def _forget_plans(self, names) -> None:
        """Forget these views' plans and column types. Only theirs: reading every relation's columns again
        (an information_schema query and a collation probe each) made each deploy slower by ~20 ms per
        view already deployed (found by a hunt: 0.25 s for the first view, 1.75 s for the 60th)."""
        for name in names:
            self._plans.pop(name, None)
            self._stored_plans.pop(name, None)
            self._plan_keys.pop(name, None)
            if self._schema_cache is not None:
                self._schema_cache.pop(name, None)
        self._templates.clear()

    def _without_catalog(self, definition):
        """``shop.main.t`` as ``main.t``: the database's name is its file's, and a copy of the file (compare,
        purge) has another, where the stored view would read a database that is not there."""
        tables = [t for t in definition.query.find_all(exp.Table) if t.args.get("catalog")]
        if not tables:
            return definition
        here = self.con.execute("SELECT current_database()").fetchall()[0][0].lower()
        for table in tables:
            if table.text("catalog").lower() != here:
                raise IvmError(f"view {definition.name} reads {table.sql(dialect=DIALECT)}, of database "
                               f"{table.text('catalog')}; ivm keeps views over this database ({here}) only")
        query = definition.query.copy()
        for table in query.find_all(exp.Table):
            table.set("catalog", None)
        return dataclasses.replace(definition, query=query, sql=query.sql(dialect=DIALECT))

    def _users_own_relations(self) -> set[str]:
        """Tables and views in ``main`` (the user's, and ivm's exposed sources and views)."""
        return {row[0].lower() for row in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_catalog = current_database()").fetchall()}

    def _check_names(self, plan: ViewPlan) -> None:
        """Stages, sources and views share the ``_ivm`` schema: a stage named like a source or another
        view's stage (view ``v``'s ``v__input`` and a source ``v__input``) would overwrite it."""
        owners = {stage.name: other.name for other in self._plans.values() for stage in other.stages}
        for stage in plan.stages:
            taken = f"source {stage.name}" if stage.name in self.sources else \
                f"a table of view {owners[stage.name]}" if stage.name in owners else None
            if taken:
                raise IvmError(f"view {plan.name} needs the internal table {INTERNAL_SCHEMA}.{stage.name}, which is "
                               f"{taken}; rename view {plan.name}")

    def _build(self, plan: ViewPlan, hook: Callable[[Stage], None] | None = None) -> float:
        """Materialise every stage of ``plan`` from its inputs; returns the seconds it took."""
        began = time.perf_counter()
        for stage in plan.stages:
            if hook:
                hook(stage)
            self._materialise(stage)
        return time.perf_counter() - began

    def _rows(self, view: str) -> int:
        return int(self.con.execute(f"SELECT COUNT(*) FROM {render(internal_table(view))}").fetchall()[0][0])

    def _begin(self) -> None:
        """BEGIN ivm's transaction. One the caller left open on ``db.con`` is theirs: refuse without rolling it
        back (DuckDB marks it aborted, so they learn of it; they must end it themselves)."""
        self._committed = False  # set by _commit once the COMMIT has returned: what an interrupt reports
        try:
            self.con.begin()
        except duckdb.TransactionException:
            raise IvmError("a transaction was already open on this database's connection (db.con); ivm runs "
                           "each change in a transaction of its own: commit yours first (DuckDB has marked it "
                           "aborted: ROLLBACK it)") from None

    def _rollback(self) -> bool:
        """ROLLBACK, if a transaction is still open (after a failed COMMIT DuckDB has rolled back already);
        whether one was."""
        _abandon_result(self.con)
        try:
            self.con.rollback()
            return True
        except duckdb.TransactionException:
            return False
        except duckdb.Error:  # e.g. DuckDB invalidated the database after a fatal error (a corrupt block): the
            return False      # transaction is gone, and the error that caused it is the one to report

    def _commit(self) -> float:
        """COMMIT; returns its seconds (writing rebuilt tables out is part of a rebuild's cost, costs.py)."""
        began = time.perf_counter()
        commit(self.con, self._mark_committed)
        return time.perf_counter() - began

    def _mark_committed(self) -> None:
        self._committed = True

    def _checkpoint_if_due(self) -> None:
        """After a committed change, outside its transaction's error handling (:mod:`ivm.store.wal`)."""
        wal.checkpoint_if_due(self.con, self._log)

    def _materialise(self, stage: Stage) -> None:
        if isinstance(stage, RecomputeStage) and stage.sql is not None:  # the user's text, verbatim
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted_identifier(RAW_SCHEMA)}")
            self.con.execute(f"CREATE OR REPLACE VIEW {render(raw_view(stage.name))} "
                             f"({', '.join(map(quoted_identifier, stage.columns))}) AS {stage.sql}")
        self.con.execute(render(materialise.create_statement(stage)))
        if self.indexes and isinstance(stage, (SpjStage, PerRowStage)):
            for lineage in materialise.hidden_columns(stage):
                self.con.execute(f'CREATE INDEX "{stage.name}_{lineage}" ON "{INTERNAL_SCHEMA}"."{stage.name}" '
                                 f'("{lineage}")')

    def _expose(self, plan: ViewPlan) -> None:
        select = exp.select(*[column(c) for c in plan.columns]).from_(internal_table(plan.name))
        self.con.execute(f'CREATE OR REPLACE VIEW main."{plan.name}" AS {render(select)}')

    # -- delete ------------------------------------------------------------------------------------
    @_open_only
    def delete(self, table: str, where: str, *, purge: bool = False, strategy: str = "incremental",
               _hook: Callable[[Stage], None] | None = None) -> dict:
        """Delete the rows of source ``table`` matching ``where`` and maintain every view, atomically.

        ``strategy``: ``"incremental"`` applies every view's delta rules; ``"recompute"`` rebuilds every view
        the deletion reaches instead; ``"auto"`` rebuilds the views whose incremental maintenance this
        database measured to cost more than their rebuild (:mod:`ivm.store.costs`). The result is the same.

        Returns the report that ``ivm delete --json`` prints. With ``purge=True`` the database is then
        rewritten into a fresh file (see :meth:`purge`) and the report gets the erasure ``receipt``.
        """
        table = _relation_name(table)
        if strategy not in costs.STRATEGIES:
            raise IvmError(f"unknown strategy {strategy!r}; choose one of: {', '.join(costs.STRATEGIES)}")
        predicate = self._checked_predicate(table, where)
        if purge and not erasure.is_file(self.path):  # [erasure]
            raise IvmError("purge needs a database file; an in-memory database has no file to erase")
        fingerprints, pending_id, maintainer = None, None, None
        start = time.perf_counter()
        self._begin()
        try:
            if purge:  # [erasure] the values the deleted rows hold, in Python memory only
                fingerprints = receipts.capture(self.con, internal_table(table), predicate,
                                                self._schema()[table])
            ids = self._matching_ids(table, predicate)
            rebuilds = self._rebuilds(strategy, table, len(ids)) if len(ids) else {}
            skipped = {stage.name for name in rebuilds for stage in self._plans[name].stages}
            maintainer = Maintainer(self.con, [s for s in self.stages if s.name not in skipped], _hook,
                                    self._templates)
            changes = {table: self._delete_source(maintainer, table, ids)}
            stage_reports = maintainer.run(changes)
            rebuilt = self._rebuild(rebuilds, _hook)
            # [ml] [audit] feature sets and the deletion log change in the same transaction
            feature_report = ml_features.after_delete(self, table, changes[table].deleted)
            views = self._view_reports(table, stage_reports, rebuilds, rebuilt)
            audit_id = audit.record(self.con, table, predicate, changes[table].deleted.count, views, feature_report,
                                    time.perf_counter() - start, self._next_audit_id)
            if purge:  # [erasure] pending until the purge below has replaced the file
                pending_id = self._pending_receipt(table, predicate, changes[table].deleted.count)
            maintainer.cleanup()  # inside the transaction: no copy of deleted rows outlives it
            committed = self._commit()
            self._next_audit_id = audit_id + 1
        except BaseException as error:
            self._next_audit_id = None  # read again from the log: whether this entry committed is not known here
            if self._committed:  # interrupted after the COMMIT (which holds Ctrl-C back while it runs)
                raise as_interrupt(error, f"the deletion from {table} had committed") from None
            self._rollback()
            if isinstance(error, duckdb.Error):
                raise IvmError(f"deletion rolled back, nothing changed: {first_line(error)}") from None
            raise as_interrupt(error, "the deletion was rolled back, nothing changed") from None
        finally:
            if maintainer is not None:
                maintainer.cleanup()
        with _after_commit(f"the deletion from {table}", self.con):
            if changes[table].deleted.count:  # a deletion that matched nothing changes nothing but the log
                self._save_plans()
                self._save_templates()
            costs.record_rebuilds(self.con, {name: report["seconds"] for name, report in rebuilt.items()}, committed)
            self._checkpoint_if_due()
        seconds = time.perf_counter() - start
        report = {"source": table, "deleted_rows": changes[table].deleted.count, "seconds": seconds, "views": views,
                  "features": feature_report, "audit_id": audit_id}
        if purge:  # [erasure]
            deleted = {"sources": {table: report["deleted_rows"]},
                       "views": {n: {"deleted": v["deleted"], "inserted": v["inserted"]} for n, v in views.items()}}
            try:
                report["receipt"] = erasure.purge(self, fingerprints=fingerprints, pending_id=pending_id,
                                                  deleted=deleted)
            except IvmError as error:
                raise IvmError(f"deleted {report['deleted_rows']} rows from {table} and maintained every view, "
                               f"but the purge failed ({error}); receipt {pending_id} stays pending until "
                               "`ivm purge` succeeds") from None
            except BaseException as error:
                if not interrupted(error):
                    raise
                raise as_interrupt(error, f"the deletion from {table} had committed, the purge did not finish "
                                           f"(the file is the old one or the whole rewrite); receipt {pending_id} "
                                           "stays pending until `ivm purge` succeeds") from None
            finally:
                fingerprints = None
        return report

    def _view_reports(self, table: str, stage_reports, rebuilds: dict[str, str], rebuilt: dict[str, dict]) -> dict:
        """Per view: how it is maintained, and whether this deletion could reach it at all (``affected``:
        it reads ``table``, directly or through other views); an unaffected view ran no statement, so its
        report says so instead of naming a strategy that was not used."""
        views = {}
        for name, plan in self._plans.items():
            affected = table in self._sources_of(name)
            if name in rebuilt:
                views[name] = {"strategy": "recompute", "reason": rebuilds[name], **rebuilt[name], "rebuilt": True,
                               "affected": affected}
                continue
            report = stage_reports.get(plan.name)
            strategy, reason = strategy_of(plan)
            if not affected:
                reason = f"not affected: reads no rows of {table} (otherwise {strategy}: {reason})"
            views[name] = {"strategy": strategy, "reason": reason,
                           "deleted": report.deleted if report else 0,
                           "inserted": report.inserted if report else 0,
                           "seconds": sum(stage_reports[s.name].seconds for s in plan.stages
                                          if s.name in stage_reports),
                           "rebuilt": False, "affected": affected}
        return views

    # -- the choice between maintaining and rebuilding (ivm/store/costs.py) -----------------------
    def _rebuilds(self, strategy: str, table: str, rows: int) -> dict[str, str]:
        """The views this deletion of ``rows`` rows from ``table`` rebuilds instead of maintaining, with
        the reason each report gives."""
        if strategy == "incremental":
            return {}
        reached = [name for name in self._plans if table in self._sources_of(name)]
        if strategy == "recompute":
            return {name: "rebuilt (--strategy recompute)" for name in reached}
        observed, rebuild = costs.observations(self.con, table, reached), costs.rebuild_seconds(self.con)
        reasons = {name: reason for name in reached
                   if (reason := costs.rebuild_reason(observed.get(name), rebuild.get(name), rows))}
        keep = costs.closed(set(reasons), self._readers())
        return {name: reason for name, reason in reasons.items() if name in keep}

    def _readers(self) -> dict[str, set[str]]:
        """view -> the views whose stages read it."""
        owner = {stage.name: name for name, plan in self._plans.items() for stage in plan.stages}
        readers: dict[str, set[str]] = {}
        for name, plan in self._plans.items():
            for stage in plan.stages:
                for relation in stage.inputs:
                    if owner.get(relation, name) != name:
                        readers.setdefault(owner[relation], set()).add(name)
        return readers

    def _rebuild(self, views, hook: Callable[[Stage], None] | None) -> dict[str, dict]:
        """Rebuild ``views`` from their (already maintained) inputs, in deployment order, so a view is
        rebuilt after the views it reads; each report counts the old rows as deleted and the new ones as
        inserted, as a wholesale replacement does."""
        reports = {}
        for name, plan in self._plans.items():
            if name not in views:
                continue
            before = self._rows(name)
            seconds = self._build(plan, hook)
            reports[name] = {"deleted": before, "inserted": self._rows(name), "seconds": seconds}
        return reports

    # -- erasure [purge and receipts: ivm/purge.py, ivm/receipt.py] --------------------------------
    @_open_only
    def purge(self) -> dict:
        """Rewrite the database into a fresh file holding only live rows and atomically replace the old
        file, so no deleted value survives in free blocks or statistics; returns the erasure receipt.

        Costs a full rewrite (time and temporary disk space proportional to the database size); batch
        deletions and purge once. Completes the receipts of purging deletions that were interrupted.
        """
        try:
            return erasure.purge(self)
        except BaseException as error:
            if not interrupted(error):
                raise
            raise as_interrupt(error, "the purge did not finish (the file is the old one or the whole rewrite); "
                                       "run `ivm purge` again") from None

    @_open_only
    def receipt(self, receipt_id: int | None = None) -> dict:
        """The stored erasure receipt ``receipt_id`` (the latest if None)."""
        return receipts.load(self.con, receipt_id)

    def _pending_receipt(self, table: str, predicate: exp.Expression, rows: int) -> int:
        shape, literals = receipts.redacted(predicate)
        request = {"command": "delete", "source": table, "predicate": shape, "literals_redacted": literals}
        return receipts.add(self.con, {"request": request, "created_at": receipts.now(),
                                       "deleted": {"sources": {table: rows}}}, "pending")

    def _reconnect(self) -> None:
        """Open the file again (after a purge replaced it)."""
        try:
            self.con.close()
        except duckdb.Error:
            pass
        try:
            self.con = duckdb.connect(self.path)
        except duckdb.Error as error:
            raise IvmError(f"cannot reopen database {self.path} after the purge: {first_line(error)}") from None
        settings.quiet(self.con)
        self._register_udfs(self.con)
        wal.configure(self.con, self.path)
        settings.pin(self.con)
        self._schema_cache = None
        self._sources_cache = None

    def _matching_ids(self, table: str, predicate: exp.Expression):
        """The ids of the rows the deletion removes.

        Found first and deleted by id after (:meth:`_delete_source`), not ``DELETE ... WHERE predicate
        RETURNING id``: RETURNING makes DuckDB's scan read the returned column of every row it scans, not
        only of the matches (1,000 scattered rows of 1M: 35-50 ms against 25 ms for SELECT then DELETE;
        10 rows without an index on the predicate's column: 13 ms against 11)."""
        found = self.con.execute(f"SELECT {quoted_identifier(RID)} FROM {quoted_identifier(INTERNAL_SCHEMA)}."
                                 f"{quoted_identifier(table)} WHERE {render(predicate)}").fetchnumpy()[RID]
        return np.asarray(found)

    def _delete_source(self, maintainer: Maintainer, table: str, ids) -> Change:
        """Delete the rows ``ids`` by id (the source's id index finds them); the DELETE returns the rows'
        values when a per-row, partition or top-k stage reads them."""
        deleted = maintainer.rid_set(ids)
        gone = maintainer.delete_source(table, deleted) if deleted else None
        return Change(deleted=deleted, gone=gone)

    def _checked_predicate(self, table: str, where: str) -> exp.Expression:
        if table not in self.sources:
            if table in self._plans:
                raise IvmError(f"{table} is a view; delete from one of its sources "
                               f"({', '.join(self._sources_of(table))}) instead")
            raise IvmError(f"unknown source table {table}; sources: {', '.join(self.sources) or 'none'}")
        predicate = _positions_named(_without_default_schema(parse_predicate(where), table), table,
                                     self._schema()[table])
        calls = written_calls(where) - SQL_CALL_KEYWORDS
        if calls and calls - builtin_functions(self.con):
            # perhaps a macro: its body is held to the same rules
            check_macros_read_only(predicate, self._user_macros(), "the predicate", clock=True)
        schema = self._schema()
        if predicate.find(exp.Query, exp.Subquery) is None:  # the common case; qualify costs milliseconds
            _check_columns(predicate, table, schema[table])
            self._check_boolean(table, predicate)
            return predicate
        hidden = next((c.name for c in predicate.find_all(exp.Column) if c.name.lower().startswith("__ivm_")), None)
        if hidden:  # ivm's row ids and lineage are no columns of the user's tables
            raise IvmError(f"bad predicate: unknown column {hidden} (names starting with __ivm_ are ivm's own)")
        probe = exp.select(exp.Star()).from_(user_table(table))  # set, not .where(): a bare subquery is no
        probe.set("where", exp.Where(this=predicate.copy()))  # Condition to sqlglot's compiled build
        unknown = sorted(referenced_relations(probe) - set(schema))
        if unknown:
            raise IvmError(f"the predicate reads unknown table {unknown[0]}")
        try:
            qualify(probe, schema=sqlglot_schema(schema), dialect=DIALECT, validate_qualify_columns=True)
        except (SqlglotError, duckdb.Error) as error:
            try:  # sqlglot knows no columns of table functions (range(3)): DuckDB binds the predicate instead
                self.con.execute(f"DESCRIBE SELECT 1 FROM {render(internal_table(table))} AS {quoted_identifier(table)} "
                                 f"WHERE {render(predicate)}")
            except duckdb.Error:
                raise IvmError(f"bad predicate: {first_line(error)}") from None
        self._check_boolean(table, predicate)
        return predicate

    def _check_boolean(self, table: str, predicate: exp.Expression) -> None:
        """Refuse a predicate that is not a truth value (``--where id``, ``--where 1``): DuckDB would cast it to
        BOOLEAN and delete every row whose value is not zero. Comparisons, IN, LIKE, EXISTS, ... joined by
        AND/OR/NOT are truth values by their form; any other operand is typed by DuckDB (one DESCRIBE)."""
        operands = _non_boolean_operands(predicate)
        if not operands:
            return
        items = ", ".join(f"({render(o)}) AS o{i}" for i, o in enumerate(operands))
        try:
            typed = self.con.execute(f"DESCRIBE SELECT {items} FROM {render(internal_table(table))}").fetchall()
        except duckdb.Error as error:
            raise IvmError(f"bad predicate: {first_line(error)}") from None
        for operand, row in zip(operands, typed):
            if row[1] not in ("BOOLEAN", '"NULL"', "NULL"):
                raise IvmError(f"the predicate must be a boolean expression; {render(operand)} has type {row[1]} "
                               "(a comparison missing? to delete every row say --where 'true')")

    def _sources_of(self, view: str) -> list[str]:
        found, todo = set(), [s for s in self._plans[view].stages]
        stage_names = {s.name for s in self.stages}
        by_name = {s.name: s for s in self.stages}
        while todo:
            stage = todo.pop()
            for name in stage.inputs:
                if name in stage_names:
                    todo.append(by_name[name])
                else:
                    found.add(name)
        return sorted(found)

    # -- recompute, verify, explain ---------------------------------------------------------------
    @_open_only
    def recompute(self, *, progress: Report | None = None) -> dict:
        """Rebuild every view from the current sources (the baseline incremental maintenance must beat)."""
        views, start = {}, time.perf_counter()
        self._begin()
        try:
            for name in reported(self._plans, progress):
                plan = self._plans[name]
                views[name] = {"seconds": self._build(plan), "rows": self._rows(name)}
            feature_report = ml_features.after_recompute(self)  # [ml] new rows only get their UDF values
            costs.record_rebuilds(self.con, {name: view["seconds"] for name, view in views.items()}, self._commit())
        except duckdb.Error as error:
            self._rollback()
            raise IvmError(f"recompute rolled back: {first_line(error)}") from None
        except BaseException as error:
            if self._committed:
                raise as_interrupt(error, "the recompute had committed") from None
            self._rollback()
            raise as_interrupt(error, "the recompute was rolled back, nothing changed") from None
        with _after_commit("the recompute", self.con):
            self._save_plans()
            self._checkpoint_if_due()
        return {"seconds": time.perf_counter() - start, "views": views, "features": feature_report}

    def fresh_query(self, view: str) -> str:
        """The view's own SQL with every view it reads inlined as a CTE: a recompute straight from the
        sources that shares nothing with the maintained tables or with ivm's planner, except, in a view whose
        ORDER BY leaves ties, the keys that break them (:mod:`ivm.plan.ties`): its text as the planner
        normalised it, which picks the same one of the answers the user's SQL allows."""
        needed, order = set(), list(self._plans)
        todo = [view]
        while todo:
            name = todo.pop()
            for ref in referenced_relations(sqlglot.parse_one(self._plans[name].sql, read=DIALECT)):
                if ref in self._plans and ref not in needed:
                    needed.add(ref)
                    todo.append(ref)
        sql = {name: self._plans[name].tie_broken or sql for name, sql, _ in catalog.views(self.con)}
        ctes = [f'"{name}" AS ({sql[name]})' for name in order if name in needed]
        return (f"WITH {', '.join(ctes)} " if ctes else "") + f"SELECT * FROM ({sql[view]})"

    @_open_only
    def verify(self, *, progress: Report | None = None) -> dict:
        """Compare every maintained view with a fresh recompute from the sources, as bags."""
        views = {}
        for name in reported(self._plans, progress):
            stored = f'SELECT * FROM main."{name}"'
            try:
                ok, rows = compare.bags_equal(self.con, stored, self.fresh_query(name))
                views[name] = {"ok": ok, "rows": rows}
            except duckdb.Error as error:  # e.g. a stored column no longer castable to the recomputed type
                rows = self.con.execute(f"SELECT COUNT(*) FROM ({stored})").fetchone()[0]
                views[name] = {"ok": False, "rows": rows, "error": first_line(error)}
        return {"ok": all(v["ok"] for v in views.values()), "views": views}

    @_open_only
    def explain(self, view: str | None = None) -> str:
        if view is not None and not isinstance(view, str):
            raise IvmError(f"a view name must be text, not {type(view).__name__}")
        if view is not None and view.lower() not in self._plans:  # any view name, "My View" too
            raise IvmError(f"unknown view {view}; views: {', '.join(self._plans) or 'none'}")
        chosen = [self._plans[view.lower()]] if view else list(self._plans.values())
        in_place = deferrable(self.stages)
        return "\n\n".join(explain_plan(plan, in_place) for plan in chosen) or "no views deployed"


def _non_boolean_operands(node: exp.Expression) -> list[exp.Expression]:
    """The parts of a predicate not boolean by their form (below AND, OR, NOT and parentheses)."""
    if isinstance(node, (exp.Paren, exp.Not)):
        return _non_boolean_operands(node.this)
    if isinstance(node, exp.Connector):
        return _non_boolean_operands(node.left) + _non_boolean_operands(node.right)
    if isinstance(node, (exp.Predicate, exp.Boolean)):
        return []
    return [node]


def _without_default_schema(predicate: exp.Expression, table: str) -> exp.Expression:
    """``main.t.id`` (or ``db.main.t.id``) as ``t.id``: the predicate runs on ivm's stored table, where only
    the table's own name qualifies its columns."""
    for node in predicate.find_all(exp.Column):
        if node.text("db").lower() == "main" and node.table.lower() == table and node.find_ancestor(exp.Query) is None:
            node.set("db", None)
            node.set("catalog", None)
    return predicate


def _positions_named(predicate: exp.Expression, table: str, columns: Mapping[str, str]) -> exp.Expression:
    """``#2`` (DuckDB's positional reference: the second column of the FROM clause) as the name of ``table``'s
    second column. The predicate runs over ivm's stored table, whose first column is the row id: left as
    written, ``#1`` would select rows by their ivm id. Inside a subquery ``#N`` counts that subquery's own
    FROM clause, which is not worked out here: refused, with what to write instead."""
    if predicate.find(exp.PositionalColumn) is None:
        return predicate
    names = list(columns)
    predicate = predicate.copy()
    for node in list(predicate.find_all(exp.PositionalColumn)):
        if node.find_ancestor(exp.Query, exp.Subquery) is not None:
            raise IvmError(f"bad predicate: write the column's name instead of {node.sql(dialect=DIALECT)} inside "
                           "a subquery")
        position = int(node.this.name) if node.this.is_int else 0
        if not 1 <= position <= len(names):
            raise IvmError(f"bad predicate: {node.sql(dialect=DIALECT)} is out of range; {table} has {len(names)} "
                           f"columns: {', '.join(names)}")
        node.replace(exp.column(names[position - 1], quoted=True))
    return predicate


def _check_columns(predicate: exp.Expression, table: str, columns: Mapping[str, str]) -> None:
    """Every column a subquery-free predicate names must be a column of ``table`` or a field of one (DuckDB
    matches names case-insensitively)."""
    known = {name.lower() for name in columns}
    bound = {c.expression.name.lower() for c in predicate.find_all(exp.Comprehension)}  # [x FOR x IN l]
    for node in predicate.find_all(exp.Column):
        qualifier = node.table
        if not qualifier and node.name.lower() in bound and node.find_ancestor(exp.Comprehension) is not None:
            continue
        if qualifier and qualifier.lower() != table.lower() and qualifier.lower() in known:
            continue  # a STRUCT field: st.a (DuckDB reports a missing field, and the deletion rolls back)
        if qualifier and qualifier.lower() != table.lower():
            raise IvmError(f"bad predicate: column {node.sql(dialect=DIALECT)} names table {qualifier}, "
                           f"but the deletion is from {table}")
        if node.name.lower() not in known:
            raise IvmError(f"bad predicate: unknown column {node.name} in {table}; "
                           f"columns: {', '.join(columns)}")


def _udf_registrar(udfs) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """Turn the ``udfs`` argument into a function registering them on a connection."""
    if udfs is None:
        return lambda con: None
    if callable(udfs):
        return udfs
    path = Path(udfs)
    if not path.is_file():
        raise IvmError(f"UDF file {path} does not exist")
    module = load_module(path, f"cannot load UDF file {path}")
    register = getattr(module, "register_udfs", None)
    if not callable(register):
        raise IvmError(f"UDF file {path} defines no register_udfs(con) function")

    def guarded(con) -> None:  # the user's code may fail in any way: one line, not a traceback
        try:
            register(con)
        except Exception as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise IvmError(f"register_udfs(con) of {path} failed: {type(error).__name__}: {message}") from None
    return guarded


def strategy_of(plan: ViewPlan) -> tuple[str, str]:
    fallbacks = [s for s in plan.stages if isinstance(s, RecomputeStage) and s.inputs]  # no inputs: a constant
    if fallbacks:
        return "recompute", "; ".join(f"{s.name}: {s.reason}" for s in fallbacks)
    def rule(stage: Stage) -> str:
        more = coverage_strategy(stage)
        if more is not None:
            return more
        if isinstance(stage, RecomputeStage):
            return "constants built once"
        if stage.kind == "spj":
            return "lineage delete"
        return "subtract from running aggregates" if stage.subtractive else "recompute touched groups"
    return "incremental", ", ".join(dict.fromkeys(rule(s) for s in plan.stages))


def _load_error(error: BaseException) -> str:
    """DuckDB's error in one line; for a CSV error also its cause, which DuckDB writes on the third line (the first
    says only on which line of the file: "CSV Error on Line: 2").

    Example:
        >>> _load_error(ValueError("Invalid Input Error: CSV Error on Line: 2\\nOriginal Line: id,name\\n"
        ...                        "Invalid unicode detected. This file is not utf-8 encoded.\\n\\nPossible Solution: .."))
        'Invalid Input Error: CSV Error on Line: 2: Invalid unicode detected. This file is not utf-8 encoded. (--csv encoding=... reads another encoding)'
    """
    lines = [line.strip() for line in str(error).splitlines()]
    if not lines or "CSV Error" not in lines[0]:
        return first_line(error)
    cause = next((line for line in lines[1:] if line and not line.startswith(("Original Line", "Possible Solution"))), "")
    hint = " (--csv encoding=... reads another encoding)" if "utf-8" in cause.lower() else ""
    return f"{lines[0]}: {cause}{hint}" if cause else lines[0]


@contextlib.contextmanager
def _after_commit(change: str, con):
    """Work after a COMMIT (bookkeeping, a checkpoint): an interrupt there must not claim a rollback."""
    try:
        yield
    except BaseException as error:
        _abandon_result(con)
        raise as_interrupt(error, f"{change} had committed") from None


def _abandon_result(con) -> None:
    """Drop the rest of a result an interrupt left unread (it landed between ``execute`` and the fetch): DuckDB
    then refuses the caller's next ``db.con.sql(...)`` ("connection has an unfinished result")."""
    abort = getattr(con, "abort", None)  # DuckDB versions without it have no such refusal
    if abort is not None:
        with contextlib.suppress(Exception):
            abort()


# Database files open in this process, one ivm handle each: two handles on one file would each plan only the
# views they knew when opened, and a deletion through one would leave the other's new views stale.
_OPEN: "weakref.WeakValueDictionary[str, Database]" = weakref.WeakValueDictionary()


def _file_key(path: str) -> str | None:
    return None if not path or path.startswith(":memory:") else os.path.realpath(path)


def _index_columns(expressions) -> list[str]:
    """The column names of an index from ``duckdb_indexes().expressions``, the text of a list of names, those
    DuckDB must quote in single quotes: ``[b, '"last, first"']``.

    Example:
        >>> _index_columns("[b, '" + '"last, first"' + "']")
        ['b', 'last, first']
    """
    if isinstance(expressions, (list, tuple)):
        items = [str(e) for e in expressions]
    else:
        items = [quoted.replace("''", "'") if quoted else plain.strip() for quoted, plain in
                 re.findall(r"'((?:[^']|'')*)'|([^,\[\]']+)", str(expressions)) if quoted or plain.strip()]
    return [i[1:-1].replace('""', '"') if len(i) > 1 and i[0] == i[-1] == '"' else i for i in items]


def _file_kind(path) -> str:
    """How ``ivm load`` reads a file, by its name: ``parquet``, ``json`` (.json, .jsonl, .ndjson, also .gz),
    ``arrow`` (Arrow IPC / Feather), else ``csv`` (any suffix: .csv, .tsv, .txt, .dat, .gz, none)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    last = suffixes[-2] if len(suffixes) > 1 and suffixes[-1] == ".gz" else (suffixes[-1] if suffixes else "")
    if last in (".parquet", ".pq"):
        return "parquet"
    if last in (".json", ".jsonl", ".ndjson"):
        return "json"
    if last in (".arrow", ".feather", ".ipc"):
        return "arrow"
    return "csv"


# Files that are no table: read as CSV they loaded as nothing or as a column of their lines.
NOT_DATA = {".sql": "an SQL file (views are deployed with `ivm deploy DB FILE.sql`)", ".py": "a Python file",
            ".duckdb": "a DuckDB database", ".db": "a database file", ".ddb": "a DuckDB database",
            ".sqlite": "an SQLite database", ".wal": "a DuckDB write-ahead log", ".xlsx": "an Excel workbook",
            ".xls": "an Excel workbook", ".zip": "a zip archive", ".pkl": "a Python pickle", ".pickle": "a Python pickle",
            ".npy": "a NumPy array", ".npz": "a NumPy archive", ".h5": "an HDF5 file", ".avro": "an Avro file",
            ".orc": "an ORC file"}


def _not_data(path) -> str | None:
    """Why ``path`` cannot be a source (a sentence), or None."""
    what = NOT_DATA.get(Path(path).suffix.lower())
    if what is None:
        return None
    return (f"{path} is {what}, not a table: ivm load reads CSV (any delimiter, also gzip-compressed), Parquet, "
            "JSON (.json, .jsonl, .ndjson) and Arrow IPC / Feather files")


def _relation_name(name: str) -> str:
    if not isinstance(name, str):
        raise IvmError(f"a table name must be text, not {type(name).__name__}")
    if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise IvmError(f"{name!r} is not a valid table name (letters, digits and _; not starting with a digit)")
    if name.startswith("__"):  # ivm's own tables (__views, __sources, __audit, ...) share the schema
        raise IvmError(f"{name!r} is reserved for ivm (names starting with __)")
    if any(not character.isascii() and character != character.lower() for character in name):
        # ivm keeps names in lower case; DuckDB folds only ASCII letters, so no view could name the table
        raise IvmError(f"{name!r} has capitals outside ASCII, which DuckDB does not fold to lower case as ivm "
                       f"does; write the name in lower case ({name.lower()!r})")
    if name.lower() in (INTERNAL_SCHEMA, RAW_SCHEMA):  # `_ivm.a` would name ivm's schema, not the table
        raise IvmError(f"{name!r} is the name of ivm's own schema; choose another name")
    if name.lower() in DUCKDB_VIEWS:
        raise IvmError(f"{name!r} is the name of one of DuckDB's own catalog views; choose another name")
    return name.lower()


# DuckDB's catalog views in the main schema (SELECT view_name FROM duckdb_views() WHERE internal): a table of
# that name cannot be exposed there
DUCKDB_VIEWS = {"duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_indexes", "duckdb_logs",
                "duckdb_schemas", "duckdb_tables", "duckdb_types", "duckdb_views", "pragma_database_list",
                "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
