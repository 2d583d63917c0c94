#!/usr/bin/env bash
# The ML layer on the bundled shop data: feature set, deletion, audit log, export, compare.
# Needs no network. Usage: bash examples/ml/run.sh [DB]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shop="$here/../shop"
db="${1:-$(mktemp -d)/ml.duckdb}"
out="$(dirname "$db")"
rm -f "$db"
set -x
ivm load "$db" customers="$shop/customers.csv" orders="$shop/orders.csv"
ivm deploy "$db" "$here/prep.sql"
ivm features "$db" "$here/features.yaml"
ivm delete "$db" --from customers --where "email = 'customer42@example.com'"
ivm log "$db"
ivm export "$db" --features large_orders --format npy --out "$out/large_orders"
ivm export "$db" --features large_orders --format parquet --out "$out/large_orders.parquet"
ivm compare "$db" --from orders --where "oid IN (7, 8, 9)"
