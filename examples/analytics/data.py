"""Seeded data for the analytics workload (views.sql): six tables, ``orders`` the largest.

Customer and product ids are hashed over the orders table, so the rows of one customer are spread over the
whole file and deleting them is not made cheap by zone maps.

    python examples/analytics/data.py shop.duckdb 100000   # load sources at that many orders, deploy views.sql
"""
from __future__ import annotations

import sys
from pathlib import Path

VIEWS = Path(__file__).with_name("views.sql")


def source_sql(orders: int) -> dict[str, str]:
    """``name -> SELECT`` producing each source table for ``orders`` orders."""
    customers, products = max(orders // 10, 10), max(orders // 100, 10)
    return {
        "regions": "SELECT i AS id, 'region ' || i AS name, ['EU', 'NA', 'APAC', 'LATAM'][1 + i % 4] AS zone "
                   "FROM range(40) r(i)",
        "customers": f"SELECT i AS id, 'customer ' || i AS name, (hash(i) % 40)::INTEGER AS region_id, "
                     f"['consumer', 'smb', 'enterprise'][1 + (hash(i * 3) % 3)::INTEGER] AS segment, "
                     f"(i % 4)::INTEGER AS tier FROM range({customers}) r(i)",
        "categories": "SELECT i AS id, 'category ' || i AS name, "
                      "['home', 'tech', 'food', 'toys', 'garden'][1 + i % 5] AS dept FROM range(60) r(i)",
        "products": f"SELECT i AS id, 'product ' || i AS name, (hash(i) % 60)::INTEGER AS category_id, "
                    f"((hash(i * 7) % 50000) / 100 + 1)::DECIMAL(10, 2) AS price FROM range({products}) r(i)",
        "orders": f"SELECT i AS oid, (hash(i) % {customers})::BIGINT AS cid, (hash(i * 11) % {products})::BIGINT AS pid, "
                  f"DATE '2023-01-01' + (hash(i * 13) % 730)::INTEGER AS day, 1 + (hash(i * 17) % 5)::INTEGER AS qty, "
                  f"((hash(i * 19) % 100000) / 100)::DECIMAL(12, 2) AS amount, "
                  f"['paid', 'shipped', 'cancelled'][1 + (hash(i * 23) % 3)::INTEGER] AS status "
                  f"FROM range({orders}) r(i)",
        "returns": f"SELECT i AS id, (hash(i * 29) % {orders})::BIGINT AS oid, "
                   f"DATE '2023-02-01' + (hash(i * 31) % 700)::INTEGER AS day, "
                   f"['damaged', 'late', 'wrong'][1 + (hash(i * 37) % 3)::INTEGER] AS reason "
                   f"FROM range({max(orders // 20, 1)}) r(i)",
    }


def view_statements() -> list[tuple[str, str]]:
    """(name, ``CREATE VIEW`` statement) of every workload view, in file order."""
    from ivm.plan.parse import parse_views

    return [(v.name, f"CREATE VIEW {v.name} AS {v.sql}") for v in parse_views(VIEWS.read_text())]


def load(db, orders: int) -> None:
    import duckdb

    maker = duckdb.connect()
    db.load_many([(name, maker.sql(sql).to_arrow_table()) for name, sql in source_sql(orders).items()])
    maker.close()


if __name__ == "__main__":
    import ivm

    with ivm.connect(sys.argv[1]) as database:
        load(database, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
        for name in database.deploy(VIEWS.read_text()):
            print(name, "|", database.explain(name).splitlines()[0])
