"""Bag equality of two relations inside DuckDB, with a tolerance for floating-point columns.

Used by ``verify`` and by the tests: a maintained view must equal a fresh recompute as a multiset.
Exact columns must match exactly; DOUBLE/FLOAT columns may differ by a relative 1e-9, because summing the
same numbers in another order (parallel aggregation) rounds differently, or by an absolute 1e-12: a value
that is zero up to rounding (the mean of centred values, -2.4e-15 one way and 1.1e-15 the other) has no
scale of its own to be relative to.
"""
from __future__ import annotations

from typing import Sequence

from sqlglot import exp

from ivm.sql import and_all, column, ident, null_safe_eq, or_all, render

FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8"}
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12


def _close(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """``left IS NOT DISTINCT FROM right OR abs(left - right) <= greatest(rel * greatest(abs(left),
    abs(right)), abs)``."""
    scale = exp.func("GREATEST", exp.func("ABS", left.copy()), exp.func("ABS", right.copy()))
    bound = exp.func("GREATEST", exp.Mul(this=exp.Literal.number(RELATIVE_TOLERANCE), expression=scale),
                     exp.Literal.number(ABSOLUTE_TOLERANCE))
    diff = exp.func("ABS", exp.Sub(this=left.copy(), expression=right.copy()))
    return exp.or_(null_safe_eq(left, right), exp.LTE(this=diff, expression=bound))


def mismatch_count_query(left: exp.Query, right: exp.Query, columns: Sequence[str],
                         float_columns: Sequence[str] = ()) -> exp.Select:
    """A query counting the rows of either side that have no equal partner on the other side.

    Rows are paired by their exact columns and, within equal exact values, by rank of their float values;
    a pair matches when every float is close. Zero means the two bags are equal.
    """
    exact = [c for c in columns if c not in float_columns]
    floats = [c for c in columns if c in float_columns]

    def numbered(query: exp.Query, alias: str) -> exp.Subquery:
        window = exp.Window(this=exp.RowNumber(), partition_by=[column(c) for c in exact] or None,
                            order=exp.Order(expressions=[exp.Ordered(this=column(c), nulls_first=True)
                                                         for c in floats]) if floats else None)
        inner = exp.select(*[column(c) for c in columns], exp.alias_(window, ident("__ivm_n"))).from_(
            exp.Subquery(this=query.copy(), alias=exp.TableAlias(this=ident("__src"))))
        return exp.Subquery(this=inner, alias=exp.TableAlias(this=ident(alias)))

    on = and_all([null_safe_eq(column(c, "l"), column(c, "r")) for c in exact]
                 + [exp.EQ(this=column("__ivm_n", "l"), expression=column("__ivm_n", "r"))])
    unmatched = or_all([column("__ivm_n", "l").is_(exp.Null()), column("__ivm_n", "r").is_(exp.Null())]
                       + [exp.not_(_close(column(c, "l"), column(c, "r"))) for c in floats])
    return exp.select(exp.func("COUNT", exp.Star())).from_(numbered(left, "l")) \
        .join(numbered(right, "r"), on=on, join_type="FULL OUTER").where(unmatched)


def bags_equal(con, left_sql: str, right_sql: str) -> tuple[bool, int]:
    """Compare two queries' results as bags; returns (equal, rows on the left).

    Both queries run as the user wrote them (wrapped as CTEs, never re-rendered), because DuckDB names
    unaliased columns after their exact text."""
    described = con.execute(f"DESCRIBE {left_sql}").fetchall()
    columns = [row[0] for row in described]
    floats = [row[0] for row in described if row[1].upper() in FLOAT_TYPES]
    positions = [ident(f"__c{i}") for i in range(len(columns))]

    def renamed(relation: str) -> exp.Select:
        return exp.select(*[exp.alias_(column(f"__c{i}"), ident(c)) for i, c in enumerate(columns)]).from_(
            exp.Table(this=ident(relation), alias=exp.TableAlias(this=ident("__x"), columns=positions)))

    query = render(mismatch_count_query(renamed("__ivm_left"), renamed("__ivm_right"), columns, floats))
    prefix = f'WITH "__ivm_left" AS ({left_sql}), "__ivm_right" AS ({right_sql}) '
    mismatches = con.execute(prefix + query).fetchall()[0][0]
    rows = con.execute(f"SELECT COUNT(*) FROM ({left_sql})").fetchall()[0][0]
    return mismatches == 0, rows
