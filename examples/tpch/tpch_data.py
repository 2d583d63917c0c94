"""Seeded TPC-H-shaped data for the 22 TPC-H queries in queries.sql (standard benchmark queries, maintained
under deletion).

Not the official dbgen: DuckDB's ``tpch`` extension cannot be downloaded here, so the eight tables are
generated with DuckDB SQL from hashes of the row number. Keys, foreign keys and the value domains the queries
filter on follow the TPC-H specification: 25 nations in 5 regions, phone prefixes = nation key + 10, part
types, containers, brands and colour names, order dates 1992-01-01..1998-08-02 with ship, commit and receipt
dates derived from them, return flag and line status derived from those dates, customers whose key is
divisible by 3 place no orders, four suppliers per part and each lineitem supplied by one of them. Suppliers
take the nations in turn (dbgen draws them), so every nation has suppliers from 25 suppliers (3,750 orders)
on, and every query but Q18 (sum of quantities over 300: rare at any scale) selects rows from about 6,000
orders on.

    python examples/tpch/tpch_data.py tpch.duckdb 15000   # load sources at that many orders, deploy queries.sql
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
           "brown", "burlywood", "burnished", "chartreuse", "chiffon", "chocolate", "coral", "cornflower",
           "cornsilk", "cream", "cyan", "dark", "deep", "dim", "dodger", "drab", "firebrick", "floral", "forest",
           "frosted", "gainsboro", "ghost", "goldenrod", "green", "grey", "honeydew", "hot", "indian", "ivory",
           "khaki", "lace", "lavender", "lawn", "lemon", "light", "lime", "linen", "magenta", "maroon", "medium",
           "metallic", "midnight", "mint", "misty", "moccasin", "navajo", "navy", "olive", "orange", "orchid",
           "pale", "papaya", "peach", "peru", "pink", "plum", "powder", "puff", "purple", "red", "rose", "rosy",
           "royal", "saddle", "salmon", "sandy", "seashell", "sienna", "sky", "slate", "smoke", "snow", "spring",
           "steel", "tan", "thistle", "tomato", "turquoise", "violet", "wheat", "white", "yellow"]


def _list(items) -> str:
    return "[" + ", ".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


def _pick(items, seed: str) -> str:
    """One of ``items``, chosen by a hash (DuckDB lists are 1-based)."""
    return f"{_list(items)}[1 + (hash({seed}) % {len(items)})::INTEGER]"


def source_sql(orders: int) -> dict[str, str]:
    """``name -> SELECT`` producing each TPC-H table for ``orders`` orders (scale factor = orders / 1.5M)."""
    customers, parts, suppliers = max(orders // 10, 30), max(orders * 2 // 15, 40), max(orders // 150, 8)
    nations = ", ".join(f"({k}, '{n}', {r})" for k, (n, r) in enumerate(NATIONS))
    regions = ", ".join(f"({k}, '{n}')" for k, n in enumerate(REGIONS))
    types = [f"{a} {b} {c}" for a in ("STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO")
             for b in ("ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED")
             for c in ("TIN", "NICKEL", "BRASS", "STEEL", "COPPER")]
    containers = [f"{a} {b}" for a in ("SM", "LG", "MED", "JUMBO", "WRAP")
                  for b in ("CASE", "BOX", "BAG", "JAR", "PKG", "PACK", "CAN", "DRUM")]
    comment_words = ["carefully", "final", "special", "requests", "packages", "deposits", "furiously", "ideas",
                     "Customer", "Complaints", "pending", "accounts", "regular", "blithely"]

    def comment(seed: str) -> str:
        return f"{_pick(comment_words, seed)} || ' ' || {_pick(comment_words, seed + ' * 3')} || ' ' || " \
               f"{_pick(comment_words, seed + ' * 5')}"

    def money(seed: str, low: int, high: int) -> str:
        return f"(({low * 100} + hash({seed}) % {(high - low) * 100}) / 100)::DECIMAL(15, 2)"

    # as in dbgen, a third of the customers (keys divisible by 3) place no orders
    customer_of = f"(3 * (hash(o * 3) % ({customers} // 3)) + 1 + hash(o * 5) % 2)"
    # four suppliers per part, as in dbgen: (partkey + i * (S / 4 + (partkey - 1) / S)) % S + 1
    supplier_of = f"((p + j * ({suppliers} // 4 + (p - 1) // {suppliers})) % {suppliers} + 1)"
    return {
        "region": f"SELECT r_regionkey, r_name, 'region ' || r_name AS r_comment "
                  f"FROM (VALUES {regions}) r(r_regionkey, r_name)",
        "nation": f"SELECT n_nationkey, n_name, n_regionkey, 'nation ' || n_name AS n_comment "
                  f"FROM (VALUES {nations}) n(n_nationkey, n_name, n_regionkey)",
        "supplier": f"SELECT i AS s_suppkey, 'Supplier#' || lpad(i::VARCHAR, 9, '0') AS s_name, "
                    f"'address ' || hash(i * 3) % 10000 AS s_address, (i * 7 % 25)::INTEGER AS s_nationkey, "
                    f"(i * 7 % 25 + 10)::VARCHAR || '-' || lpad((hash(i * 7) % 1000)::VARCHAR, 3, '0') "
                    f"AS s_phone, {money('i * 11', -999, 9999)} AS s_acctbal, {comment('i * 13')} AS s_comment "
                    f"FROM range(1, {suppliers + 1}) r(i)",
        "customer": f"SELECT i AS c_custkey, 'Customer#' || lpad(i::VARCHAR, 9, '0') AS c_name, "
                    f"'address ' || hash(i * 3) % 100000 AS c_address, (hash(i * 5) % 25)::INTEGER AS c_nationkey, "
                    f"((hash(i * 5) % 25) + 10)::VARCHAR || '-' || lpad((hash(i * 7) % 1000)::VARCHAR, 3, '0') "
                    f"AS c_phone, {money('i * 11', -999, 9999)} AS c_acctbal, "
                    f"{_pick(['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'], 'i * 13')} "
                    f"AS c_mktsegment, {comment('i * 17')} AS c_comment FROM range(1, {customers + 1}) r(i)",
        "part": f"SELECT i AS p_partkey, {_pick(COLOURS, 'i * 3')} || ' ' || {_pick(COLOURS, 'i * 5')} || ' ' || "
                f"{_pick(COLOURS, 'i * 7')} AS p_name, 'Manufacturer#' || (1 + hash(i * 11) % 5) AS p_mfgr, "
                f"'Brand#' || (1 + hash(i * 11) % 5) || (1 + hash(i * 13) % 5) AS p_brand, "
                f"{_pick(types, 'i * 17')} AS p_type, (1 + hash(i * 19) % 50)::INTEGER AS p_size, "
                f"{_pick(containers, 'i * 23')} AS p_container, "
                f"((90000 + (i / 10) % 20001 + 100 * (i % 1000)) / 100)::DECIMAL(15, 2) AS p_retailprice, "
                f"{comment('i * 29')} AS p_comment FROM range(1, {parts + 1}) r(i)",
        "partsupp": f"SELECT p AS ps_partkey, {supplier_of} AS ps_suppkey, "
                    f"(1 + hash(p * 31 + j) % 9999)::INTEGER AS ps_availqty, "
                    f"{money('p * 37 + j', 1, 1000)} AS ps_supplycost, {comment('p * 41 + j')} AS ps_comment "
                    f"FROM range(1, {parts + 1}) r(p), range(4) s(j)",
        "orders": f"SELECT o AS o_orderkey, {customer_of} AS o_custkey, "
                  f"{_pick(['F', 'O', 'P'], 'o * 5')} AS o_orderstatus, {money('o * 7', 900, 500000)} AS o_totalprice, "
                  f"DATE '1992-01-01' + (hash(o * 11) % 2405)::INTEGER AS o_orderdate, "
                  f"{_pick(['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'], 'o * 13')} "
                  f"AS o_orderpriority, 'Clerk#' || lpad((1 + hash(o * 17) % 1000)::VARCHAR, 9, '0') AS o_clerk, "
                  f"0 AS o_shippriority, {comment('o * 19')} AS o_comment FROM range(1, {orders + 1}) r(o)",
        "lineitem": f"SELECT o AS l_orderkey, p AS l_partkey, {supplier_of} AS l_suppkey, n AS l_linenumber, "
                    f"q::DECIMAL(15, 2) AS l_quantity, (q * (90000 + (p / 10) % 20001 + 100 * (p % 1000)) / 100)"
                    f"::DECIMAL(15, 2) AS l_extendedprice, ((hash(o * 7 + n) % 11) / 100)::DECIMAL(15, 2) "
                    f"AS l_discount, ((hash(o * 11 + n) % 9) / 100)::DECIMAL(15, 2) AS l_tax, "
                    f"CASE WHEN receipt <= DATE '1995-06-17' THEN {_pick(['R', 'A'], 'o * 13 + n')} ELSE 'N' END "
                    f"AS l_returnflag, CASE WHEN ship > DATE '1995-06-17' THEN 'O' ELSE 'F' END AS l_linestatus, "
                    f"ship AS l_shipdate, day + (30 + hash(o * 17 + n) % 61)::INTEGER AS l_commitdate, "
                    f"receipt AS l_receiptdate, "
                    f"{_pick(['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'], 'o * 19 + n')} "
                    f"AS l_shipinstruct, "
                    f"{_pick(['REG AIR', 'AIR', 'RAIL', 'SHIP', 'TRUCK', 'MAIL', 'FOB'], 'o * 23 + n')} AS l_shipmode, "
                    f"{comment('o * 29 + n')} AS l_comment "
                    f"FROM (SELECT o, n, day, 1 + hash(o * 31 + n) % {parts} AS p, (hash(o * 37 + n) % 4) AS j, "
                    f"1 + hash(o * 41 + n) % 50 AS q, day + (1 + hash(o * 43 + n) % 121)::INTEGER AS ship, "
                    f"day + (1 + hash(o * 43 + n) % 121)::INTEGER + (1 + hash(o * 47 + n) % 30)::INTEGER AS receipt "
                    f"FROM (SELECT o, DATE '1992-01-01' + (hash(o * 11) % 2405)::INTEGER AS day "
                    f"FROM range(1, {orders + 1}) r(o)), range(1, 8) l(n) WHERE n <= 1 + hash(o * 53) % 7)",
    }


def query_statements() -> list[tuple[str, str]]:
    """(name, ``CREATE VIEW`` statement) of the 22 queries, in file order."""
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
        load(database, int(sys.argv[2]) if len(sys.argv) > 2 else 15_000)
        for name in database.deploy(QUERIES.read_text()):
            print(name, "|", database.explain(name).splitlines()[0])
