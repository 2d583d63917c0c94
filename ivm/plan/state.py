"""Which aggregates can be maintained by subtraction, and the running state they need per group.

COUNT(*), COUNT(x), SUM(x) and AVG(x) over exact numbers (integers, decimals) are invertible: the new
value is the old one minus what the deleted rows contributed, with no rounding. MIN and MAX keep their
value until a deleted row held it; only then is the group recomputed. Floating-point sums are not
subtracted (the result would drift from a recompute), nor are COUNT DISTINCT, HAVING or anything else:
those stages recompute their touched groups instead.
"""
from __future__ import annotations

import functools
import re
from typing import Mapping, Sequence

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ivm.plan.nodes import StateColumn
from ivm.plan.column_types import duckdb_types
from ivm.sql import DIALECT, INTERNAL_SCHEMA, column

COUNT_STAR = "__ivm_n"
EXACT = exp.DataType.INTEGER_TYPES | {exp.DataType.Type.DECIMAL}


@functools.lru_cache(maxsize=1)
def _duckdb_aggregate_names() -> frozenset[str]:
    """DuckDB's aggregate functions, and its macros that call one (GEOMEAN is exp(avg(ln(x))))."""
    with duckdb.connect(":memory:") as con:
        rows = con.execute("SELECT DISTINCT lower(function_name), function_type, macro_definition "
                           "FROM duckdb_functions() WHERE function_type IN ('aggregate', 'macro')").fetchall()
    names = {name for name, kind, _ in rows if kind == "aggregate"}
    macros = [(name, definition.lower()) for name, kind, definition in rows if kind == "macro" and definition]
    while True:
        calls = re.compile(r'(?<![\w."])"?(' + "|".join(map(re.escape, sorted(names))) + r')"?\s*\(')
        more = {name for name, definition in macros if name not in names and calls.search(definition)}
        if not more:
            return frozenset(names)
        names |= more


def unknown_aggregate(node: exp.Expression) -> bool:
    """``node`` calls a DuckDB aggregate that sqlglot does not know (PRODUCT, FSUM, GEOMEAN, ...): it parses
    as an anonymous function, not an :class:`exp.AggFunc`, though it aggregates its group's rows.

    Example:
        >>> import sqlglot
        >>> unknown_aggregate(sqlglot.parse_one("SELECT product(x)", read="duckdb").expressions[0])
        True
    """
    return isinstance(node, exp.Anonymous) and node.name.lower() in _duckdb_aggregate_names()


def state_column(index: int) -> str:
    return f"__ivm_a{index}"


def subtractive_state(select: exp.Select, keys: Sequence[exp.Expression], core_types: Mapping[str, str]
                      ) -> tuple[tuple[StateColumn, ...], tuple[exp.Expression, ...]]:
    """The running state and output expressions for ``select``, or two empty tuples if not subtractive."""
    if select.args.get("having") or select.args.get("distinct") or select.find(exp.Filter):
        return (), ()
    if any(item.find(exp.Unnest, exp.Explode) for item in select.expressions):
        return (), ()  # a set-returning output (a date spine from MIN and MAX) is no value to UPDATE in place
    state: dict[tuple[str, str], StateColumn] = {("count_star", ""): StateColumn("count_star", None, COUNT_STAR)}

    def need(function: str, argument: exp.Expression | None) -> exp.Column:
        key = (function, argument.sql(dialect=DIALECT) if argument is not None else "")
        if key not in state:
            state[key] = StateColumn(function, argument.copy() if argument is not None else None,
                                     state_column(len(state) - 1))
        return column(state[key].name)

    def replace(node: exp.Expression) -> exp.Expression:
        if unknown_aggregate(node):  # over group keys only it would look like a value of the keys
            raise _NotSubtractive
        if not isinstance(node, exp.AggFunc):
            return node
        if node.args.get("distinct") or isinstance(node.this, exp.Distinct) or node.find(exp.Window):
            raise _NotSubtractive
        argument = node.this
        if isinstance(node, exp.Count):
            return need("count_star", None) if isinstance(argument, exp.Star) or argument is None \
                else need("count", argument)
        if isinstance(node, (exp.Sum, exp.Avg)) and _exact(argument, core_types):
            count, total = need("count", argument), need("sum", argument)
            if isinstance(node, exp.Sum):
                return exp.If(this=exp.EQ(this=count, expression=exp.Literal.number(0)), true=exp.Null(),
                              false=total)
            return exp.Div(this=exp.cast(total, "DOUBLE"), expression=exp.Nullif(
                this=count, expression=exp.Literal.number(0)))
        if isinstance(node, (exp.Min, exp.Max)) and not node.expressions and node.args.get("count") is None:
            return need("min" if isinstance(node, exp.Min) else "max", argument)
        raise _NotSubtractive

    key_sql = {k.sql(dialect=DIALECT): f"__ivm_k{i}" for i, k in enumerate(keys)}

    def to_key(node: exp.Expression) -> exp.Expression:
        name = key_sql.get(node.sql(dialect=DIALECT)) if not isinstance(node, exp.Alias) else None
        return column(name) if name else node

    outputs = []
    try:
        for expression in select.expressions:
            value = expression.unalias() if isinstance(expression, exp.Alias) else expression
            value = value.copy().transform(replace).transform(to_key)
            if any(c.table for c in value.find_all(exp.Column)):
                return (), ()  # reads an input column outside any aggregate and group key
            outputs.append(value)
    except _NotSubtractive:
        return (), ()
    return tuple(state.values()), tuple(outputs)


class _NotSubtractive(Exception):
    pass


def _exact(argument: exp.Expression | None, core_types: Mapping[str, str]) -> bool:
    """Whether the SUM of ``argument`` is an exact number (an integer or a decimal) as DuckDB types it. Not
    sqlglot's inference: it types ``extract(epoch FROM ts)`` as BIGINT where DuckDB returns a DOUBLE, whose
    sums a subtraction would make drift. The sum's type, not the argument's: DuckDB sums a UHUGEINT as a
    DOUBLE."""
    if argument is None:
        return False
    used = {c.name for c in argument.find_all(exp.Column)}
    return _exact_type(argument.sql(dialect=DIALECT), tuple(sorted((c, t) for c, t in core_types.items() if c in used)))


@functools.lru_cache(maxsize=4096)
def _exact_type(argument: str, core_types: tuple[tuple[str, str], ...]) -> bool:
    probe = exp.select(exp.alias_(exp.Sum(this=sqlglot.parse_one(argument, read=DIALECT)), "__value")).from_(
        exp.Table(this=exp.to_identifier("__core"), db=exp.to_identifier(INTERNAL_SCHEMA)))
    typed = duckdb_types(probe, {"__core": dict(core_types)})
    if not typed:
        return False
    try:
        return exp.DataType.build(typed["__value"], dialect=DIALECT).this in EXACT
    except (SqlglotError, ValueError):
        return False
