"""Whether a query's result depends on the order DuckDB reads rows in (and so changes from run to run).

DuckDB aggregates and windows in parallel: ``list(x)`` or ``string_agg(x, ',')`` without ORDER BY inside,
``first``/``last``/``any_value``, ``row_number()``/``lag``/``first_value`` without ORDER BY in OVER, ROWS frames
without ORDER BY, DISTINCT ON and LIMIT without ORDER BY, and the approximate ``approx_quantile``,
``reservoir_quantile`` and ``approx_top_k`` give other answers on other runs. A view built on one
would differ from its own recompute with no row deleted (``ivm verify`` fails right after deploy), and a
rewrite verified on a small file (read in file order) would pick other rows on a large one. Deploy and the
rewriter's static check refuse them with the cure: an ORDER BY over columns that make the order unique.

Ties inside an ORDER BY that exists (``row_number() OVER (ORDER BY day)`` with two rows on a day,
``arg_max(name, amount)`` with equal amounts) depend on the data; :mod:`ivm.plan.ties` breaks them with more keys.
``mode(x)`` with two values equally frequent remains.
"""
from __future__ import annotations

from sqlglot import exp

from ivm.sql import DIALECT

# window functions whose value depends on the order of the rows in their partition
# (rank, dense_rank, cume_dist and percent_rank are not among them: without ORDER BY every row of a
# partition is a peer of every other, so they are the same constant for all of them)
ORDERED_WINDOW_FUNCTIONS = (exp.RowNumber, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
                            exp.Ntile)
# aggregates that pick one row's value: whichever is read first (or last)
PICKING_AGGREGATES = (exp.First, exp.Last, exp.AnyValue)
PICKING_NAMES = frozenset({"first", "last", "any_value", "arbitrary"})
# aggregates whose value lists the rows in the order they are read
LISTING_AGGREGATES = (exp.ArrayAgg, exp.ArrayUniqueAgg, exp.GroupConcat)
LISTING_NAMES = frozenset({"list", "array_agg", "string_agg", "group_concat", "listagg"})
# approximate aggregates whose sketch depends on the order rows are fed in (reservoir_quantile also samples)
APPROXIMATE_AGGREGATES = (exp.ApproxQuantile, exp.ApproxTopK)
APPROXIMATE_NAMES = frozenset({"approx_quantile", "reservoir_quantile", "approx_top_k"})
# wrappers (and modifiers) between an aggregate and the window it runs in or the sort that fixes its order
TRANSPARENT = (exp.IgnoreNulls, exp.RespectNulls, exp.Filter)
SORTING_NAMES = frozenset({"list_sort", "array_sort", "list_reverse_sort", "array_reverse_sort", "sort_array"})
FIX_ORDER = "add ORDER BY over columns that make it unique"


def _shown(node: exp.Expression) -> str:
    """The SQL of ``node`` for a message, ``string_agg`` named as users write it (sqlglot spells it LISTAGG)."""
    return node.sql(dialect=DIALECT).replace("LISTAGG(", "STRING_AGG(")


def _enclosing(node: exp.Expression) -> exp.Expression | None:
    """The first parent of ``node`` that is not IGNORE NULLS / RESPECT NULLS / FILTER."""
    parent = node.parent
    while isinstance(parent, TRANSPARENT):
        parent = parent.parent
    return parent


def _named(node: exp.Expression, names: frozenset[str]) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() in names


def _ordered_inside(node: exp.Expression) -> bool:
    """Whether an aggregate carries its own ORDER BY (``list(x ORDER BY y)``, ``WITHIN GROUP (ORDER BY y)``)."""
    return (isinstance(node.this, exp.Order) or any(isinstance(a, exp.Order) for a in node.expressions)
            or isinstance(node.parent, exp.WithinGroup))


def _sorted_afterwards(node: exp.Expression) -> bool:
    """Whether a list aggregate is sorted right away (``list_sort(list(x))``), so reading order cannot show."""
    parent = node.parent
    return isinstance(parent, exp.ArraySort) or _named(parent, SORTING_NAMES)


def _named_window(window: exp.Window) -> exp.Window | None:
    """The definition of the named window ``OVER w`` refers to (``WINDOW w AS (...)``), if it is in reach."""
    name = window.args.get("alias")
    select = window.find_ancestor(exp.Select)
    for definition in (select.args.get("windows") or []) if name is not None and select is not None else []:
        if isinstance(definition.this, exp.Identifier) and definition.this.name.lower() == name.name.lower():
            return definition
    return None


def _whole_partition(spec: exp.Expression | None) -> bool:
    return spec is not None and str(spec.args.get("start", "")).upper() == "UNBOUNDED" \
        and str(spec.args.get("end", "")).upper() == "UNBOUNDED"


def _window_problem(window: exp.Window) -> str | None:
    if window.args.get("alias") is not None and window.args.get("order") is None:
        definition = _named_window(window)
        if definition is None or definition.args.get("order") is not None:
            return None  # ordered there (or out of reach: not refused on a guess)
        window = exp.Window(this=window.this, partition_by=definition.args.get("partition_by"),
                            spec=definition.args.get("spec") or window.args.get("spec"))
    if window.args.get("order") is not None:
        return None
    function = window.this
    while isinstance(function, TRANSPARENT):
        function = function.this
    spec = window.args.get("spec")
    ordered_argument = isinstance(function, exp.Func) and _ordered_inside(function)  # first(x ORDER BY y) OVER ()
    if (isinstance(function, (*ORDERED_WINDOW_FUNCTIONS, *PICKING_AGGREGATES, *LISTING_AGGREGATES,
                              *APPROXIMATE_AGGREGATES))
            or _named(function, PICKING_NAMES | LISTING_NAMES | APPROXIMATE_NAMES)) and not ordered_argument:
        return f"{_shown(window)} has no ORDER BY in OVER; {FIX_ORDER} inside OVER (...)"
    if spec is not None and str(spec.args.get("kind", "")).upper() in ("ROWS", "GROUPS") and not _whole_partition(spec):
        return f"{_shown(window)} frames rows with no ORDER BY in OVER; {FIX_ORDER} inside OVER (...)"
    return None


def _aggregate_problem(node: exp.Expression) -> str | None:
    if isinstance(_enclosing(node), exp.Window) or _ordered_inside(node):
        return None  # a window's own ORDER BY decides (see _window_problem)
    if isinstance(node, PICKING_AGGREGATES) or _named(node, PICKING_NAMES):
        return (f"{_shown(node)} takes the value of whichever row it meets first (or last); use "
                f"min()/max(), arg_min()/arg_max(), or {FIX_ORDER} inside the aggregate (first(x ORDER BY ...))")
    if isinstance(node, APPROXIMATE_AGGREGATES) or _named(node, APPROXIMATE_NAMES):
        return (f"{_shown(node)} is approximate, and its estimate depends on the order rows are read "
                "in; use its exact form (quantile_cont, quantile_disc, median, or count and ORDER BY .. LIMIT)")
    if (isinstance(node, LISTING_AGGREGATES) or _named(node, LISTING_NAMES)) and not _sorted_afterwards(node):
        return (f"{_shown(node)} lists values in the order rows are read; {FIX_ORDER} inside the "
                f"aggregate (list(x ORDER BY ...), string_agg(x, ',' ORDER BY ...))")
    return None


def _global_aggregate(query: exp.Select) -> bool:
    return query.args.get("group") is None and query.find(exp.Window) is None \
        and any(e.find(exp.AggFunc) for e in query.expressions) \
        and all(e.find(exp.AggFunc) or not e.find(exp.Column) for e in query.expressions)


def _one_row(query: exp.Expression) -> bool:
    """Whether ``query`` returns at most one row whatever the data: a global aggregate, or a select over a
    product (comma or CROSS JOIN) of them, as TPC-DS q28's six bucket aggregates side by side.

    Example:
        >>> import sqlglot
        >>> _one_row(sqlglot.parse_one("SELECT * FROM (SELECT avg(x) FROM t) b1, (SELECT 1 + count(*) AS c FROM u)"))
        True
        >>> _one_row(sqlglot.parse_one("SELECT * FROM (SELECT avg(x) AS a FROM t) b1, u"))
        False
    """
    if not isinstance(query, exp.Select) or query.args.get("group") is not None:
        return False
    if _global_aggregate(query):
        return True
    first = query.args.get("from_")
    joins = query.args.get("joins") or []
    if first is None or query.find(exp.Window) is not None or any(
            j.args.get("on") is not None or j.args.get("using") or j.args.get("kind") not in (None, "CROSS")
            for j in joins):
        return False
    items = [first.this, *[j.this for j in joins]]
    return all(isinstance(item, exp.Subquery) and _one_row(item.this) for item in items)


def _query_problem(query: exp.Expression) -> str | None:
    if query.args.get("order") is not None:
        return None
    if isinstance(query.parent, exp.Exists) or (isinstance(query.parent, exp.Subquery)
                                                and isinstance(query.parent.parent, exp.Exists)):
        return None  # whether a row exists does not depend on which
    if _one_row(query):
        return None  # a global aggregate (or a product of them): one row, whichever order
    if query.args.get("limit") is not None or query.args.get("offset") is not None:
        return f"LIMIT / OFFSET without ORDER BY keeps whichever rows are read first; {FIX_ORDER}"
    distinct = query.args.get("distinct")
    if isinstance(distinct, exp.Distinct) and distinct.args.get("on") is not None:
        return f"DISTINCT ON without ORDER BY keeps whichever row of each group is read first; {FIX_ORDER}"
    return None


def order_dependence(query: exp.Expression) -> str | None:
    """Why ``query``'s result depends on the order DuckDB reads rows in, or None. DuckDB reads a small file in
    file order and a large one in parallel, so verification on small data cannot see this; ORDER BY over
    columns that make the order unique is the cure (min/max/arg_min/arg_max and COUNT/SUM are fine as they
    are). LIMIT without ORDER BY too: DuckDB returns a scan's rows in insertion order but a join's, a
    GROUP BY's or a DISTINCT's in hash order, and ivm's top-k stage keeps the k smallest rows instead.

    Example:
        >>> import sqlglot
        >>> order_dependence(sqlglot.parse_one("SELECT first(x) FROM t GROUP BY k", read="duckdb"))[:38]
        'FIRST(x) takes the value of whichever '
        >>> order_dependence(sqlglot.parse_one("SELECT arg_max(x, y) FROM t GROUP BY k", read="duckdb")) is None
        True
    """
    for node in query.walk():
        if isinstance(node, exp.Window):
            found = _window_problem(node)
        elif isinstance(node, (exp.Select, exp.SetOperation)):
            found = _query_problem(node)
        elif isinstance(node, exp.Func):
            found = _aggregate_problem(node)
        else:
            found = None
        if found:
            return found
    return None
