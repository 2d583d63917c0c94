"""Feature sets in a database: deploy, keep in step with deletions and recomputes, drop.

A feature set stores three things beside the prep view:

* its row table ``_ivm.__ml_<set>``: one row per prep row, keyed by the row's source lineage
  (:mod:`ivm.ml.lineage`, ART indexes on the lineage columns), holding the row's split side, its Python UDF
  values and hashed token counts (computed once, when the row enters) and a copy of the columns its
  statistics read;
* its statistics (:mod:`ivm.ml.stats`): ``_ivm.__ml_<set>_stats`` and one ``_ivm.__ml_<set>_cat<k>`` per
  one-hot column, kept by subtraction;
* its entry in ``_ivm.__ml_sets``: the spec (JSON) and the train/test counts.

X and y are not stored: an export computes them with one query joining the prep rows, the row table and
the statistics (:mod:`ivm.ml.compile`). A deletion (:func:`after_delete`, called by ``Database.delete``
inside its transaction) deletes the rows whose lineage names a deleted source row, subtracts them from the
statistics and updates the counts: a few index probes, no UDF call. A recompute (:func:`after_recompute`) drops rows whose lineage is gone and
computes UDF values only for lineages not seen before.
"""
from __future__ import annotations

import dataclasses
import io
import json
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Mapping

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from ivm.delta.rids import RidSet
from ivm.errors import IvmError, as_interrupt, first_line, interrupted
from ivm.ml import lineage as lineages
from ivm.ml import spec as specs
from ivm.ml import split, stats, tokens, udf_cache
from ivm.ml.spec import FeatureSpec
from ivm.plan.parse import _internal_reference, check_read_only, function_name, parse_error_text, reserved_name
from ivm.sql import DIALECT, INTERNAL_SCHEMA, column, or_all, render
from ivm.store import catalog

SETS = f'"{INTERNAL_SCHEMA}"."__ml_sets"'
SETUP = f"CREATE TABLE IF NOT EXISTS {SETS} (name VARCHAR, spec VARCHAR, sources VARCHAR, train BIGINT, " \
        "test BIGINT, deployed_at TIMESTAMP)"
TEST = "__test"


def ensure(con) -> None:
    con.execute(SETUP)


@dataclass(frozen=True)
class FeatureSet:
    spec: FeatureSpec
    lineage: lineages.Lineage
    stats: stats.Plan
    types: dict[str, str]          # prep column -> DuckDB type

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def table(self) -> str:
        return f'"{INTERNAL_SCHEMA}"."{row_table(self.name)}"'

    def udf_column(self, feature) -> str:
        return f"f{self.spec.features.index(feature)}"

    def hash_column(self, feature) -> str:
        return f"h{self.spec.features.index(feature)}"

    @property
    def hash_features(self) -> list:
        return [f for f in self.spec.features if f.kind == "hash"]


def row_table(name: str) -> str:
    return f"__ml_{name}"


# -- per-Database state: the loaded sets and the UDF callables given in this session ------------------------
_state: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _session(db) -> dict:
    if db not in _state:
        _state[db] = {"sets": None, "functions": {}}
    return _state[db]


def sets(db) -> dict[str, FeatureSet]:
    """The deployed feature sets, loaded once per session."""
    session = _session(db)
    if session["sets"] is None:
        loaded = {}
        for name, text in db.con.execute(f"SELECT name, spec FROM {SETS} ORDER BY deployed_at, name").fetchall():
            loaded[name] = _build(db, specs.parse(json.loads(text)), new=False)
        session["sets"] = loaded
    return session["sets"]


def get(db, name: str) -> FeatureSet:
    if not isinstance(name, str):
        raise IvmError(f"a feature set is named by text, not {name!r:.60}")
    found = sets(db)
    if name.lower() not in found:
        raise IvmError(f"unknown feature set {name}; feature sets: {', '.join(found) or 'none'}")
    return found[name.lower()]


def _build(db, spec: FeatureSpec, new: bool = True) -> FeatureSet:
    """Check ``spec`` against the database and resolve everything the queries need."""
    what = f"feature set {spec.name}"
    if spec.source not in db.plans and spec.source not in db.sources:
        raise IvmError(f"{what}: unknown view {spec.source}; views: {', '.join(db.plans) or 'none'}")
    if new and (spec.name in db.plans or spec.name in db.sources or spec.name in sets(db)):
        raise IvmError(f"{what}: the name {spec.name} is already taken by a view, source or feature set")
    types = catalog.columns(db.con, db.plans[spec.source].output.name if spec.source in db.plans else spec.source)
    spelled = {name.lower(): name for name in types}  # DuckDB's names are case-insensitive: QTY is qty
    spec = dataclasses.replace(spec, features=tuple(
        dataclasses.replace(f, column=spelled.get(f.column.lower(), f.column)) for f in spec.features))
    for feature in spec.features:
        if feature.column not in types:
            raise IvmError(f"{what}: feature {feature.name!r} names unknown column {feature.column!r} of "
                           f"{spec.source}; its columns: {', '.join(types)}")
        if feature.kind in specs.NUMERIC_KINDS and stats.numeric(types[feature.column]) is None:
            raise IvmError(f"{what}: feature {feature.name!r} needs a number, but {feature.column} is "
                           f"{types[feature.column]}; use onehot, hash or a udf for it")
        if feature.kind == "onehot" and _nested(types[feature.column]):
            raise IvmError(f"{what}: feature {feature.name!r} is a one-hot of {feature.column}, a "
                           f"{types[feature.column]}; one-hot needs plain values (text, numbers, dates, booleans): "
                           "use a udf for it, or unnest it in the prep view")
    lineage = lineages.resolve(db, spec.source)
    plan = stats.plan(spec, types)
    if new:
        _check_tables(db, spec, plan)
        _check_names(spec, lineage)
        if spec.label is not None:
            _check_label(db, spec, types)
    return FeatureSet(spec=spec, lineage=lineage, stats=plan, types=types)


def _check_tables(db, spec: FeatureSpec, plan: stats.Plan) -> None:
    """The tables a feature set keeps are named after it (``__ml_m``, ``__ml_m_stats``, ``__ml_m_cat0``), so
    a set named ``m_stats`` (or ``sets``, ivm's list of feature sets) may hold a name that another needs."""
    needed = [row_table(spec.name)] + ([f"__ml_{spec.name}_stats"] if plan.columns else []) + \
        [f"__ml_{spec.name}_cat{k}" for k in range(len(plan.categories))]
    taken = db.con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND "
                           "lower(table_name) IN (SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY table_name",
                           [INTERNAL_SCHEMA, needed]).fetchall()
    if taken:
        raise IvmError(f"feature set {spec.name}: its table {INTERNAL_SCHEMA}.{taken[0][0]} is already ivm's "
                       "(another feature set's, or ivm's own); choose another name")


def _nested(duckdb_type: str) -> bool:
    """A LIST, ARRAY, STRUCT, MAP or UNION type: no one-hot of those (a category would be a whole list, named by
    Python's text of it).

    Example:
        >>> [_nested(t) for t in ("INTEGER[]", "VARCHAR[3]", "STRUCT(a INTEGER)", "VARCHAR", "DECIMAL(10,2)")]
        [True, True, True, False, False]
    """
    kind = duckdb_type.upper().strip()
    return kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION"))


def _check_names(spec: FeatureSpec, lineage) -> None:
    """X's column names must differ from each other and from the columns an export file holds beside them
    (the lineage ids, ``split``, ``label``), or one column's values would be read under another's name. A
    one-hot column is named ``name=value`` when its category shows up, so no other X column may start with a
    one-hot feature's name and ``=``."""
    taken = {name: "a lineage column of exports" for name in lineages.export_names(lineage.sources)}
    taken.update({"split": "the split column of exports", "label": "the label column of exports"})
    onehots = [f.name + "=" for f in spec.features if f.kind == "onehot"]
    for feature in spec.features:
        if feature.kind == "onehot":
            names = [feature.name + "="]
        elif feature.kind == "hash" or (feature.kind == "udf" and feature.dims):
            names = [f"{feature.name}[{j}]" for j in range(feature.dims)]
        else:
            names = [feature.name]
        for name in names:
            clash = taken.get(name) or next((f"the one-hot columns {prefix}..." for prefix in onehots
                                             if name != prefix and name.startswith(prefix)), None)
            if clash:
                raise IvmError(f"feature set {spec.name}: feature {feature.name!r} gives X column "
                               f"{name + '...' if name.endswith('=') else name!r}, which clashes with {clash}; "
                               "give the feature another name")
            taken[name] = f"X column {name!r}"


def label_tree(spec: FeatureSpec) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(spec.label, read=DIALECT)
    except sqlglot.errors.SqlglotError as error:
        raise IvmError(f"feature set {spec.name}: cannot parse the label {spec.label!r}: "
                       f"{parse_error_text(error)}") from None
    if isinstance(tree, (exp.Query, exp.Command)):
        raise IvmError(f"feature set {spec.name}: the label must be an expression over {spec.source}'s columns")
    return tree


def relations_read(fs: FeatureSet) -> set[str]:
    """The views and sources the set reads: its prep view and whatever its label's subqueries name
    (``x > (SELECT max(thr) FROM th)``), so that dropping or redefining one of them is refused."""
    found = {fs.spec.source}
    if fs.spec.label is not None:
        found |= {t.name.lower() for t in label_tree(fs.spec).find_all(exp.Table) if t.name}
    return found


def _check_label_is_per_row(spec: FeatureSpec, tree: exp.Expression, types: Mapping[str, str]) -> None:
    """y holds one value per example, computed from that example's row: a star would read ivm's own columns of
    the stored row, an aggregate or a window reads other rows (a window over ties also the order DuckDB reads
    them in), and UNNEST or a table function makes several rows of one."""
    found = next((node for node in tree.walk(bfs=False) if _reads_other_rows(node)), None)
    if found is None:
        return
    what = found.sql(dialect=DIALECT)[:60]
    if isinstance(found, exp.Star) or function_name(found) == "columns":
        reason = "reads every column of the row (ivm's own columns too)"
    elif isinstance(found, exp.Window):
        reason = "is a window function, whose value depends on other rows"
    elif isinstance(found, exp.AggFunc):
        reason = "is an aggregate over many rows"
    else:
        reason = "can give several values for one example"
    raise IvmError(f"feature set {spec.name}: the label {reason} ({what}); it must be an expression over one row "
                   f"of {spec.source}: {', '.join(types)}")


def _reads_other_rows(node: exp.Expression) -> bool:
    """Whether ``node`` of a label reads rows besides its own, or makes several values of one (UNNEST; in a
    SELECT list ``range`` and ``generate_series`` are lists, one value)."""
    if node.find_ancestor(exp.Subquery, exp.Query) is not None and not isinstance(node, exp.Query):
        return False  # a scalar subquery's own aggregates and stars are its business (checked as it binds)
    return (isinstance(node, (exp.Star, exp.Window, exp.AggFunc, exp.Unnest, exp.Explode))
            and not (isinstance(node, exp.Star) and isinstance(node.parent, exp.Count))) \
        or function_name(node) in ("unnest", "columns")


def _check_label(db, spec: FeatureSpec, types: Mapping[str, str]) -> None:
    """Besides parsing and binding: the label sees the prep view's stored table, so it must not read the
    columns ivm keeps there (``__ivm_rid``, lineage ids: a recompute renumbers them, and y would change with
    them) nor the whole stored row by the table's name (a struct holding those columns)."""
    tree = label_tree(spec)
    check_read_only(tree, f"the label of feature set {spec.name}")
    _check_label_is_per_row(spec, tree, types)
    reserved = reserved_name(tree)
    if reserved:
        raise IvmError(f"feature set {spec.name}: the label names {reserved}, one of ivm's own columns (names "
                       f"starting with __ivm_); use {spec.source}'s columns: {', '.join(types)}")
    stored = db.plans[spec.source].output.name if spec.source in db.plans else spec.source
    visible = {name.lower() for name in types}
    whole_row = next((c for c in tree.find_all(exp.Column) if not c.table and c.name.lower() not in visible
                      and c.name.lower() in {stored.lower(), spec.source.lower()}), None)
    if whole_row is not None:
        raise IvmError(f"feature set {spec.name}: the label reads the whole row of {spec.source} "
                       f"({whole_row.name}); name its columns instead: {', '.join(types)}")
    internal = _internal_reference(tree)  # refused as in views and predicates: _ivm.__audit changes on deletion
    if internal is not None:
        raise IvmError(f"feature set {spec.name}: the label reads ivm's internal schema "
                       f"({internal.sql(dialect=DIALECT)}); name the source tables and views instead")
    try:  # the label binds over the prep stage's rows, as the export's inner select evaluates it beside them
        label_type = db.con.execute(f'DESCRIBE SELECT *, ({spec.label}) AS y FROM "{INTERNAL_SCHEMA}"."{stored}"') \
            .fetchall()[-1][1]
    except duckdb.Error as error:
        raise IvmError(f"feature set {spec.name}: bad label {spec.label!r}: {first_line(error)}") from None
    try:  # one that binds can still fail on a row (CAST(note AS INTEGER)): every later export would
        db.con.execute(f'SELECT count(({spec.label})) FROM "{INTERNAL_SCHEMA}"."{stored}"').fetchall()
    except duckdb.Error as error:
        raise IvmError(f"feature set {spec.name}: the label {spec.label!r} fails on the rows of {spec.source}: "
                       f"{first_line(error)}") from None
    if not _exportable(db.con, label_type):
        raise IvmError(f"feature set {spec.name}: the label's type {label_type} cannot be written by every export "
                       f"format (npy, parquet, arrow); convert it in the label, e.g. CAST(({spec.label}) AS VARCHAR)")


def _exportable(con, duckdb_type: str) -> bool:
    """Whether a label of this type survives every export format: DuckDB's NumPy conversion has no TIME WITH
    TIME ZONE, UHUGEINT or BIGNUM, Parquet no INTERVAL or UNION. Probed with a NULL of the type, which fails
    where the type does, so the refusal comes at deploy instead of at every export."""
    import pyarrow.parquet as pq

    probe = f"SELECT CAST(NULL AS {duckdb_type}) AS y FROM range(1)"
    try:
        con.execute(probe).fetchnumpy()
        pq.write_table(con.sql(probe).to_arrow_table(), io.BytesIO())
    except (duckdb.Error, pa.ArrowException):
        return False
    return True


# -- deploy and drop ----------------------------------------------------------------------------------------
def deploy(db, spec: FeatureSpec, udfs: Mapping[str, Callable] | None = None) -> dict:
    """Deploy feature set ``spec`` over its prep view: statistics views, row table, UDF values, split.

    Returns ``{"name", "from", "rows", "train", "test", "columns", "lineage", "udf_rows", "seconds"}``."""
    start = time.perf_counter()
    if isinstance(spec, dict):  # the mapping a spec file holds
        spec = specs.parse(spec)
    if not isinstance(spec, FeatureSpec):
        raise IvmError(f"deploy needs a feature spec (ml.feature_spec, ml.load_spec or ml.parse), not "
                       f"{type(spec).__name__}")
    spec = specs.check(spec)
    if udfs is not None and not isinstance(udfs, Mapping):
        raise IvmError(f"udfs must map each udf feature's name to its function ({{'sentiment': sentiment}}), "
                       f"not {type(udfs).__name__}")
    fs = _build(db, spec)
    session = _session(db)
    functions = dict(udfs or {})
    for feature in spec.udf_features:  # fail before anything is written if a function cannot be found
        functions.setdefault(feature.name, udf_cache.find(feature, functions))
    db._begin()
    try:
        columns = [f'"{n}" BIGINT NOT NULL' for n in fs.lineage.names] + [f'"{TEST}" BOOLEAN NOT NULL']
        for feature in spec.udf_features:
            kind = f"DOUBLE[{feature.dims}]" if feature.dims else "DOUBLE"
            columns.append(f'"{fs.udf_column(feature)}" {kind}')
        columns += [f'"{fs.hash_column(f)}" DOUBLE[{f.dims}]' for f in fs.hash_features]
        columns += fs.stats.row_columns()
        db.con.execute(f"CREATE TABLE {fs.table} ({', '.join(columns)})")
        for statement in fs.stats.create():
            db.con.execute(statement)
        if db.indexes:
            for name in fs.lineage.names:
                db.con.execute(f'CREATE INDEX "{row_table(spec.name)}_{name}" ON {fs.table} ("{name}")')
        db.con.execute(f"INSERT INTO {SETS} VALUES (?, ?, ?, 0, 0, now())",
                       [spec.name, json.dumps(spec.to_dict()), json.dumps(list(fs.lineage.sources))])
        synced = _sync(db, fs, functions)
    except BaseException as error:
        db._rollback()
        if interrupted(error):  # Ctrl-C in a slow UDF: nothing was written, say so
            raise as_interrupt(error, f"the deployment of feature set {spec.name} was rolled back, "
                                      "nothing deployed") from None
        raise
    try:
        db._commit()
    except BaseException as error:
        if db._committed:  # interrupted after the COMMIT (which holds Ctrl-C back): the set is deployed
            session["functions"][spec.name] = functions
            if session["sets"] is not None:
                session["sets"][spec.name] = fs
            raise as_interrupt(error, f"the deployment of feature set {spec.name} had committed") from None
        db._rollback()
        raise
    session["functions"][spec.name] = functions
    if session["sets"] is not None:
        session["sets"][spec.name] = fs
    train, test = counts(db, spec.name)
    from ivm.ml.compile import feature_names
    return {"name": spec.name, "from": spec.source, "rows": train + test, "train": train, "test": test,
            "columns": feature_names(db, fs), "lineage": list(fs.lineage.sources),
            "udf_rows": synced["udf_rows"], "seconds": time.perf_counter() - start}


def drop(db, name: str) -> None:
    """Drop feature set ``name``: its row table, its statistics and its entry."""
    fs = get(db, name)
    db._begin()
    try:
        db.con.execute(f"DROP TABLE IF EXISTS {fs.table}")
        for statement in fs.stats.drop():
            db.con.execute(statement)
        db.con.execute(f"DELETE FROM {SETS} WHERE name = ?", [fs.name])
        db._commit()
    except duckdb.Error as error:
        db._rollback()
        raise IvmError(f"cannot drop feature set {name}: {first_line(error)}") from None
    except BaseException as error:
        if db._committed:  # interrupted after the COMMIT (which holds Ctrl-C back): the set is dropped
            sets(db).pop(fs.name, None)
            raise as_interrupt(error, f"the drop of feature set {name} had committed") from None
        db._rollback()
        raise
    sets(db).pop(fs.name, None)


def counts(db, name: str) -> tuple[int, int]:
    row = db.con.execute(f"SELECT train, test FROM {SETS} WHERE name = ?", [name]).fetchall()
    return (int(row[0][0]), int(row[0][1])) if row else (0, 0)


# -- keeping rows in step --------------------------------------------------------------------------------
def after_delete(db, table: str, deleted: RidSet) -> dict:
    """Inside ``Database.delete``'s transaction: drop the rows whose lineage names a deleted row of
    ``table`` and take them out of the statistics; returns ``{set: {"rows_removed", "train_before",
    "test_before", "train_after", "test_after"}}``.

    A handful of short statements: one aggregate over the leaving rows (an index probe on their lineage)
    that also reads the counts, one grouped update per one-hot column's category counts (done by DuckDB, whose
    equality keeps every NaN one category), their DELETE, and one-row updates of the counts and statistics."""
    report = {}
    for name, fs in sets(db).items():
        columns = [n for n, s in zip(fs.lineage.names, fs.lineage.sources) if s == table]
        hit = render(or_all(deleted.contains(column(c)) for c in columns)) if columns and deleted else "false"
        parts = [f'COUNT(*) FILTER (WHERE "{TEST}")', f"(SELECT train FROM {SETS} WHERE name = ?)",
                 f"(SELECT test FROM {SETS} WHERE name = ?)", *fs.stats.delta_select()]
        first = db.con.execute(f"SELECT COUNT(*), {', '.join(parts)} FROM {fs.table} WHERE {hit}",
                               [name, name]).fetchall()[0]
        removed, removed_test, train, test = (int(v or 0) for v in first[:4])
        if removed:
            for statement in fs.stats.leave(fs.table, hit):
                db.con.execute(statement).fetchall()
            db.con.execute(f"DELETE FROM {fs.table} WHERE {hit}").fetchall()
            db.con.execute(f"UPDATE {SETS} SET train = train - ?, test = test - ? WHERE name = ?",
                           [removed - removed_test, removed_test, name]).fetchall()
            for statement, params in fs.stats.subtract(list(first[4:]), fs.table):
                db.con.execute(statement, params).fetchall()
        report[name] = {"rows_removed": removed, "train_before": train, "test_before": test,
                        "train_after": train - (removed - removed_test), "test_after": test - removed_test}
    return report


def after_recompute(db) -> dict:
    """Inside ``Database.recompute``'s transaction: bring every row table in step with the rebuilt prep
    views, computing UDF values only for lineages that are new."""
    session = _session(db)
    return {name: _sync(db, fs, session["functions"].get(name, {}), refresh=True) for name, fs in sets(db).items()}


def register_functions(db, name: str, functions: Mapping[str, Callable]) -> None:
    """Use ``functions`` (by feature name or function name) for feature set ``name``'s UDFs in this session,
    for instance when their stored references cannot be imported."""
    _session(db)["functions"].setdefault(name.lower(), {}).update(functions)


def forget_rows(db) -> None:
    """Empty every row table (their UDF values included): the next recompute computes everything again, as
    a full rerun does."""
    for fs in sets(db).values():
        db.con.execute(f"DELETE FROM {fs.table}")
        db.con.execute(f"UPDATE {SETS} SET train = 0, test = 0 WHERE name = ?", [fs.name])


def _sync(db, fs: FeatureSet, functions: Mapping[str, Callable], refresh: bool = False) -> dict:
    """Make the row table hold exactly one row per current prep row and rebuild the statistics (inside the
    caller's transaction). UDF values are computed for new lineages only; with ``refresh`` the copied
    statistics columns of retained rows are read again (a recompute may follow sources changed behind
    ivm's back)."""
    con, names = db.con, fs.lineage.names
    now = "__ivm_ml_now"
    udfs = fs.spec.udf_features
    copies = [(c.name, c.slot) for c in fs.stats.columns] + [(name, slot) for name, slot, _ in fs.stats.categories]
    texts = fs.hash_features
    inputs = [f'"{lineages.PREP}".{stats.quote(f.column)} AS "i{k}"' for k, f in enumerate(udfs)] + \
        [f'"{lineages.PREP}".{stats.quote(f.column)} AS "t{k}"' for k, f in enumerate(texts)] + \
        [f'"{lineages.PREP}".{stats.quote(name)} AS "{slot}"' for name, slot in copies]
    con.execute(f'CREATE OR REPLACE TEMP TABLE "{now}" AS '
                f'{lineages.base_query(db, fs.spec.source, fs.lineage, inputs)}')
    try:
        keys = ", ".join(f'"{n}"' for n in names)
        total, distinct = con.execute(
            f'SELECT (SELECT COUNT(*) FROM "{now}"), (SELECT COUNT(*) FROM (SELECT DISTINCT {keys} FROM "{now}"))'
        ).fetchall()[0]
        if total != distinct:
            raise IvmError(f"feature set {fs.name}: {fs.spec.source} has rows with the same lineage (a row "
                           "built twice from the same source rows, e.g. by UNNEST); a feature set needs one row "
                           "per combination of source rows")
        table = row_table(fs.name)
        same = " AND ".join(f'"{now}"."{n}" = "{table}"."{n}"' for n in names)
        removed = con.execute(f'DELETE FROM {fs.table} WHERE NOT EXISTS (SELECT 1 FROM "{now}" WHERE {same})'
                              ).fetchall()[0][0]
        fresh = con.sql(f'SELECT * FROM "{now}" WHERE NOT EXISTS (SELECT 1 FROM {fs.table} WHERE {same}) '
                        f'ORDER BY {keys}').to_arrow_table()
        columns = {n: fresh.column(n) for n in names}
        columns.update({slot: fresh.column(slot) for _, slot in copies})
        columns.update({f"t{k}": fresh.column(f"t{k}") for k in range(len(texts))})
        udf_seconds = 0.0  # the functions' own time (an empty column's first pa.array imports pandas: not theirs)
        for k, feature in enumerate(udfs):
            if not fresh.num_rows:  # no new row: the function is not needed (nor need it be importable)
                columns[fs.udf_column(feature)] = pa.array([], type=_arrow_type(feature))
                continue
            function = functions.get(feature.name) or udf_cache.find(feature, functions)
            started = time.perf_counter()
            columns[fs.udf_column(feature)] = udf_cache.compute(feature, function, fresh.column(f"i{k}"))
            udf_seconds += time.perf_counter() - started
        if fresh.num_rows:
            con.register("__ivm_ml_new", pa.table(columns))
            try:
                side = split.is_test([f'"{n}"' for n in names], fs.spec.seed, fs.spec.test_fraction)
                values = [f'"{n}"' for n in names] + [side] + [f'"{fs.udf_column(f)}"' for f in udfs] + \
                    [tokens.counts(f'"t{k}"', f.dims) for k, f in enumerate(texts)] + [f'"{slot}"' for _, slot in copies]
                con.execute(f'INSERT INTO {fs.table} SELECT {", ".join(values)} FROM "__ivm_ml_new"').fetchall()
            finally:
                con.unregister("__ivm_ml_new")
        if refresh and copies:
            assignments = ", ".join(f'"{slot}" = "{now}"."{slot}"' for _, slot in copies)
            con.execute(f'UPDATE {fs.table} SET {assignments} FROM "{now}" WHERE {same}').fetchall()
        try:
            for statement in fs.stats.rebuild(fs.table):
                con.execute(statement).fetchall()
            if fs.stats.derived() is not None:  # n * SUM(v^2) too, which X reads: fail now, not at export
                con.execute(fs.stats.derived()).fetchall()
        except duckdb.OutOfRangeException as error:
            exact = [c.name for c in fs.stats.columns if c.moments and c.kind.exact]
            raise IvmError(f"feature set {fs.name}: the exact statistics of {', '.join(exact)} overflow "
                           f"({first_line(error)[:80]}): squares of values this large do not fit a HUGEINT; cast "
                           "the column to DOUBLE in the prep view") from None
        con.execute(f'UPDATE {SETS} SET train = c.train, test = c.test FROM (SELECT '
                    f'COUNT(*) FILTER (WHERE NOT "{TEST}") AS train, COUNT(*) FILTER (WHERE "{TEST}") AS test '
                    f'FROM {fs.table}) AS c WHERE name = ?', [fs.name]).fetchall()
    finally:
        try:
            con.execute(f'DROP TABLE IF EXISTS "{now}"')
        except duckdb.TransactionException:
            pass  # the transaction failed above: the caller rolls it back, which drops the table too
    return {"rows_removed": int(removed), "rows_added": fresh.num_rows,
            "udf_rows": {f.name: fresh.num_rows for f in udfs}, "udf_seconds": udf_seconds}


def _arrow_type(feature) -> pa.DataType:
    return pa.list_(pa.float64(), feature.dims) if feature.dims else pa.float64()
