"""Seeded data shaped like the Star Schema Benchmark's (SSB: lineorder and the customer, supplier, part and
date dimensions; the date table is named ``dwdate``) for the 13 queries in queries.sql.

Generated with DuckDB SQL from hashes of the row number, following the SSB specification's domains: dates
from 1992-01-01 to 1998-12-31 keyed yyyymmdd, 25 nations in 5 regions (those of TPC-H), cities named by the
first nine letters of their nation and a digit, manufacturers MFGR#1..5 with five categories each and forty
brands per category (every part key's brand follows from the key, so every brand exists), discounts 0..10,
quantities 1..50, revenue = extended price x (100 - discount) / 100. Scaled down: two cities per nation
(digits 1 and 5, the ones Q3.3 and Q3.4 name) so that the city queries select rows at a few thousand orders.

    python examples/ssb/ssb_data.py ssb.duckdb 8000   # load sources at that many orders, deploy queries.sql
"""
from __future__ import annotations

import sys
from pathlib import Path

QUERIES = Path(__file__).with_name("queries.sql")

NATIONS = [("ALGERIA", 0), ("ARGENTINA", 1), ("BRAZIL", 1), ("CANADA", 1), ("EGYPT", 4), ("ETHIOPIA", 0),
           ("FRANCE", 3), ("GERMANY", 3), ("INDIA", 2), ("INDONESIA", 2), ("IRAN", 4), ("IRAQ", 4), ("JAPAN", 2),
           ("JORDAN", 4), ("KENYA", 0), ("MOROCCO", 0), ("MOZAMBIQUE", 0), ("PERU", 1), ("CHINA", 2),
           ("ROMANIA", 3), ("SAUDI ARABIA", 4), ("VIETNAM", 2), ("RUSSIA", 3), ("UNITED KINGDOM", 3),
           ("UNITED STATES", 1)]
REGIONS = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
COLOURS = ["almond", "antique", "aquamarine", "azure", "beige", "bisque", "black", "blanched", "blue", "blush",
           "brown", "burlywood", "burnished", "chartreuse", "chiffon", "chocolate", "coral", "cornflower"]
SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"]
PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECI", "5-LOW"]
SHIP_MODES = ["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def _list(items) -> str:
    return "[" + ", ".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


def _pick(items, seed: str) -> str:
    """One of ``items``, chosen by a hash (DuckDB lists are 1-based)."""
    return f"{_list(items)}[1 + (hash({seed}) % {len(items)})::INTEGER]"


def _geography(prefix: str, key: str) -> str:
    """City, nation and region columns of a customer or supplier: a nation by hash, one of two cities."""
    nations, regions = _list([n for n, _ in NATIONS]), "[" + ", ".join(str(r + 1) for _, r in NATIONS) + "]"
    nation = f"(1 + hash({key} * 3) % {len(NATIONS)})::INTEGER"
    return (f"rpad(left({nations}[{nation}], 9), 9, ' ') || (CASE WHEN hash({key} * 5) % 2 = 0 THEN 1 ELSE 5 END) "
            f"AS {prefix}_city, {nations}[{nation}] AS {prefix}_nation, "
            f"{_list(REGIONS)}[{regions}[{nation}]] AS {prefix}_region")


def source_sql(orders: int) -> dict[str, str]:
    """``name -> SELECT`` producing each SSB table for ``orders`` orders (1 to 7 lines each)."""
    customers, suppliers, parts = max(orders // 10, 50), max(orders // 80, 25), max(orders // 4, 1000)
    day = "DATE '1992-01-01' + (hash(o * 7) % 2557)::INTEGER"
    return {
        "dwdate": f"SELECT (year(d) * 10000 + month(d) * 100 + day(d))::INTEGER AS d_datekey, "
                  f"strftime(d, '%B %-d, %Y') AS d_date, {_list(DAYS)}[dayofweek(d) + 1] AS d_dayofweek, "
                  f"{_list(MONTHS)}[month(d)] AS d_month, year(d)::INTEGER AS d_year, "
                  f"(year(d) * 100 + month(d))::INTEGER AS d_yearmonthnum, strftime(d, '%b%Y') AS d_yearmonth, "
                  f"(dayofweek(d) + 1)::INTEGER AS d_daynuminweek, day(d)::INTEGER AS d_daynuminmonth, "
                  f"dayofyear(d)::INTEGER AS d_daynuminyear, month(d)::INTEGER AS d_monthnuminyear, "
                  f"((dayofyear(d) - 1) // 7 + 1)::INTEGER AS d_weeknuminyear, "
                  f"CASE WHEN month(d) IN (12, 1, 2) THEN 'Winter' WHEN month(d) IN (3, 4, 5) THEN 'Spring' "
                  f"WHEN month(d) IN (6, 7, 8) THEN 'Summer' ELSE 'Fall' END AS d_sellingseason "
                  f"FROM (SELECT DATE '1992-01-01' + i::INTEGER AS d FROM range(0, 2557) r(i))",
        "customer": f"SELECT i AS c_custkey, 'Customer#' || lpad(i::VARCHAR, 9, '0') AS c_name, "
                    f"{_geography('c', 'i')}, {_pick(SEGMENTS, 'i * 7')} AS c_mktsegment "
                    f"FROM range(1, {customers + 1}) r(i)",
        "supplier": f"SELECT i AS s_suppkey, 'Supplier#' || lpad(i::VARCHAR, 9, '0') AS s_name, "
                    f"{_geography('s', 'i + 100000')} FROM range(1, {suppliers + 1}) r(i)",
        "part": f"SELECT k AS p_partkey, {_pick(COLOURS, 'k * 3')} || ' ' || {_pick(COLOURS, 'k * 5')} AS p_name, "
                f"'MFGR#' || m AS p_mfgr, 'MFGR#' || m || c AS p_category, 'MFGR#' || m || c || b AS p_brand1, "
                f"{_pick(COLOURS, 'k * 3')} AS p_color, (1 + hash(k * 11) % 50)::INTEGER AS p_size, "
                f"(90000 + (k // 10) % 20001 + 100 * (k % 1000)) / 100 AS p_price "
                f"FROM (SELECT k, 1 + k % 5 AS m, 1 + (k // 5) % 5 AS c, 1 + (k // 25) % 40 AS b "
                f"FROM range(1, {parts + 1}) r(k))",
        "lineorder": f"SELECT o AS lo_orderkey, n AS lo_linenumber, 1 + hash(o * 3) % {customers} AS lo_custkey, "
                     f"p AS lo_partkey, 1 + hash(o * 5 + n) % {suppliers} AS lo_suppkey, "
                     f"(year(day) * 10000 + month(day) * 100 + day(day))::INTEGER AS lo_orderdate, "
                     f"{_pick(PRIORITIES, 'o * 11')} AS lo_orderpriority, 0 AS lo_shippriority, "
                     f"q::INTEGER AS lo_quantity, (q * price)::DECIMAL(12, 2) AS lo_extendedprice, "
                     f"d::INTEGER AS lo_discount, (q * price * (100 - d) / 100)::DECIMAL(12, 2) AS lo_revenue, "
                     f"(q * price * 0.6)::DECIMAL(12, 2) AS lo_supplycost, (hash(o * 13 + n) % 9)::INTEGER AS lo_tax, "
                     f"{_pick(SHIP_MODES, 'o * 17 + n')} AS lo_shipmode "
                     f"FROM (SELECT o, n, {day} AS day, 1 + hash(o * 19 + n) % {parts} AS p, "
                     f"1 + hash(o * 23 + n) % 50 AS q, hash(o * 29 + n) % 11 AS d, "
                     f"(90000 + ((1 + hash(o * 19 + n) % {parts}) // 10) % 20001 "
                     f"+ 100 * ((1 + hash(o * 19 + n) % {parts}) % 1000)) / 100 AS price "
                     f"FROM range(1, {orders + 1}) r(o), range(1, 8) l(n) WHERE n <= 1 + hash(o * 31) % 7)",
    }


def query_statements() -> list[tuple[str, str]]:
    """(name, ``CREATE VIEW`` statement) of the queries, in file order."""
    from ivm.plan.parse import parse_views

    return [(v.name, f"CREATE VIEW {v.name} AS {v.sql}") for v in parse_views(QUERIES.read_text())]


def load(db, orders: int) -> None:
    import duckdb

    maker = duckdb.connect()
    db.load_many([(name, maker.sql(sql).to_arrow_table()) for name, sql in source_sql(orders).items()])
    maker.close()


if __name__ == "__main__":
    import ivm

    with ivm.connect(sys.argv[1]) as database:
        load(database, int(sys.argv[2]) if len(sys.argv) > 2 else 8000)
        for name in database.deploy(QUERIES.read_text()):
            print(name, "|", database.explain(name).splitlines()[0])
