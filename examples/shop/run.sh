#!/usr/bin/env bash
# The main job on the bundled shop example: load, deploy, forget one customer, verify, explain.
# Needs no network and no API key. Usage: bash examples/shop/run.sh [DB]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
db="${1:-$(mktemp -d)/shop.duckdb}"
rm -f "$db"
set -x
ivm load "$db" customers="$here/customers.csv" orders="$here/orders.csv"
ivm deploy "$db" "$here/views.sql"
ivm delete "$db" --from customers --where "id = 42"
ivm delete "$db" --from orders --where "day < DATE '2024-02-01'" --json
ivm verify "$db"
ivm explain "$db" revenue_per_country
