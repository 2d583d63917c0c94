"""X and y of a feature set as one SQL query over the prep rows, the row table and the statistics.

Nothing here is stored: the query runs at export time, so whatever a deletion changed (a mean, the set of
categories) shows in X at once, column set included, exactly as a full rerun computes it. Rows come ordered
by their source lineage, so two exports of the same data are equal position by position.

X columns, per feature (``x`` is the prep column as DOUBLE; NULL gives NaN):

=============  =======================================================================================
passthrough    ``x``
standard       ``(x - mean) / std`` (population std; 1 where it is 0)
minmax         ``(x - min) / (max - min)`` (``max - min`` read as 1 where it is 0, so x = min gives 0)
onehot         one column ``name=value`` per category present now, sorted by value; 1.0 or 0.0
bucket         edges: the number of edges <= x; bins: ``floor((x - min) / (max - min) * bins)``, at most
               ``bins - 1``; NaN where x is NaN (bins: or where the formula gives NaN, as with a NaN or
               infinite min or max)
hash           ``name[j]`` for j < dims: how many tokens of ``lower(text)`` (split on characters that are
               neither letters nor digits) have ``hash(token) % dims = j`` (DuckDB's hash function); stored
               per row (:mod:`ivm.ml.tokens`)
udf            the stored value, or ``name[j]`` for j < dims
=============  =======================================================================================
"""
from __future__ import annotations

from ivm.ml import lineage as lineages
from ivm.ml.features import TEST, FeatureSet
from ivm.ml.stats import quote

LABEL = "__ivm_label"  # the label and X columns are named __ivm_...: no prep column or feature name can clash


def x_column(j: int) -> str:
    """The query's name for X column ``j``; the caller names it from :func:`feature_names` by position. (Under
    their own names, X columns clashed with the lineage and label columns, and DuckDB renamed names equal
    but for case or cut them at a NUL character.)"""
    return f"__ivm_x{j}"


def categories(db, fs: FeatureSet) -> dict[str, list]:
    """The current categories of every one-hot column, sorted as the X columns are."""
    return {column: [row[0] for row in
                     db.con.execute(f"SELECT value FROM {fs.stats.category_table(k)} ORDER BY value").fetchall()]
            for k, (column, _, _) in enumerate(fs.stats.categories)}


def feature_names(db, fs: FeatureSet, found: dict[str, list] | None = None) -> list[str]:
    found = categories(db, fs) if found is None else found
    names = []
    for feature in fs.spec.features:
        if feature.kind == "onehot":
            texts = [_text(v) for v in found[feature.column]]
            if fs.types[feature.column].upper().endswith("_NS") or len(set(texts)) < len(texts):
                # Python's value has no nanoseconds (TIMESTAMP_NS, TIME_NS): DuckDB's own text
                k = next(k for k, (column, _, _) in enumerate(fs.stats.categories) if column == feature.column)
                texts = [row[0] for row in db.con.execute(
                    f"SELECT CAST(value AS VARCHAR) FROM {fs.stats.category_table(k)} ORDER BY value").fetchall()]
            names += [f"{feature.name}={text}" for text in texts]
        elif feature.kind == "hash" or (feature.kind == "udf" and feature.dims):
            names += [f"{feature.name}[{j}]" for j in range(feature.dims)]
        else:
            names.append(feature.name)
    return names


def _text(value) -> str:
    """A category in its X column's name. -0.0 and 0.0 are one category, held by whichever row came first:
    the name says 0.0 either way, or a deletion would change it where a rerun would not."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value == 0:
        return "0.0"
    return str(value)


def x_query(db, fs: FeatureSet) -> tuple[str, list[str]]:
    """The query (lineage columns ``s0..``, ``__test``, ``__ivm_label``, then one DOUBLE column per X column,
    named by :func:`x_column`) and the X column names."""
    found = categories(db, fs)
    names = feature_names(db, fs, found)
    columns = list(dict.fromkeys(f.column for f in fs.spec.features if f.kind != "udf"))
    slot = {c: f"v{i}" for i, c in enumerate(columns)}
    inner = [f"({fs.spec.label}) AS {quote(LABEL)}" if fs.spec.label is not None else f"CAST(NULL AS DOUBLE) AS {quote(LABEL)}"]
    extra = [f'"{lineages.PREP}".{quote(c)} AS "{slot[c]}"' for c in columns] + [f'"{lineages.PREP}".{quote(LABEL)}']
    base = lineages.base_query(db, fs.spec.source, fs.lineage, extra, inner)

    joins, select = [], [f'"__b"."{n}"' for n in fs.lineage.names] + [f'"__r"."{TEST}"', f'"__b".{quote(LABEL)}']
    out = iter(quote(x_column(j)) for j in range(len(names)))
    category_alias = {}
    for k, (column, _, kind) in enumerate(fs.stats.categories):
        alias = f"__k{k}"
        category_alias[column] = alias
        # The categories are the distinct values as stored (the row table's copy has no collation); a prep
        # column with one (COLLATE NOACCENT) would make 'e' equal 'é' here and match a row to both.
        value = f'"__b"."{slot[column]}"' + (' COLLATE "binary"' if kind.upper().startswith("VARCHAR") else "")
        joins.append(f'LEFT JOIN (SELECT value, CAST(row_number() OVER (ORDER BY value) - 1 AS INTEGER) AS i '
                     f'FROM {fs.stats.category_table(k)}) AS "{alias}" ON {value} = "{alias}".value')
    for k, feature in enumerate(fs.spec.features):
        x = f'CAST("__b"."{slot[feature.column]}" AS DOUBLE)' if feature.kind != "udf" else None
        i = fs.stats.stat_index(feature.column) if feature.kind in ("standard", "minmax", "bucket") \
            and (feature.kind != "bucket" or feature.bins) else None
        span = f'(CASE WHEN "__st"."hi{i}" = "__st"."lo{i}" THEN 1.0 ELSE "__st"."hi{i}" - "__st"."lo{i}" END)'
        if feature.kind == "passthrough":
            select.append(f"{x} AS {next(out)}")
        elif feature.kind == "standard":
            select.append(f'({x} - "__st"."m{i}") / "__st"."sd{i}" AS {next(out)}')
        elif feature.kind == "minmax":
            select.append(f'({x} - "__st"."lo{i}") / {span} AS {next(out)}')
        elif feature.kind == "bucket" and feature.edges:
            # DuckDB orders NaN above every number, so NaN >= e holds: NaN is tested first and stays NaN
            terms = " + ".join(f"CAST({x} >= {float(e)!r} AS DOUBLE)" for e in feature.edges)
            select.append(f"CASE WHEN isnan({x}) THEN {x} ELSE ({terms}) END AS {next(out)}")
        elif feature.kind == "bucket":
            value = f'floor(({x} - "__st"."lo{i}") / {span} * {feature.bins})'
            top = feature.bins - 1  # not least(): it skips NULLs, and a NULL x must stay NULL
            # NaN (a NaN x, or a NaN or infinite min or max) stays NaN: DuckDB's NaN > top would cap it to top
            select.append(f"CAST(CASE WHEN isnan({value}) THEN {value} WHEN {value} > {top} THEN {top} "
                          f"ELSE {value} END AS DOUBLE) AS {next(out)}")
        elif feature.kind == "onehot":
            alias = category_alias[feature.column]
            for j in range(len(found[feature.column])):
                select.append(f'CAST(CASE WHEN "{alias}".i = {j} THEN 1 ELSE 0 END AS DOUBLE) AS {next(out)}')
        elif feature.kind == "hash":  # stored per row when the row entered (ivm.ml.tokens)
            for j in range(feature.dims):
                select.append(f'"__r"."{fs.hash_column(feature)}"[{j + 1}] AS {next(out)}')
        elif feature.kind == "udf":
            stored = f'"__r"."{fs.udf_column(feature)}"'
            if feature.dims:
                for j in range(feature.dims):
                    select.append(f"{stored}[{j + 1}] AS {next(out)}")
            else:
                select.append(f"{stored} AS {next(out)}")
    same = " AND ".join(f'"__r"."{n}" = "__b"."{n}"' for n in fs.lineage.names)
    ctes = [f'"__b" AS ({base})']
    derived = fs.stats.derived()
    if derived:
        ctes.append(f'"__st" AS ({derived})')
        joins.insert(0, 'CROSS JOIN "__st"')
    order = ", ".join(f'"__b"."{n}"' for n in fs.lineage.names)
    sql = (f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM \"__b\" "
           f"JOIN {fs.table} AS \"__r\" ON {same} {' '.join(joins)} ORDER BY {order}")
    return sql, names
