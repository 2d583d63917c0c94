"""Shipped revenue per customer since February, the way a quick script often does it: lines split by hand,
a dict as the join, running totals in nested dicts, labels in an if/elif chain."""
import csv

customers = {}
with open("customers.csv") as handle:
    next(handle)  # header
    for line in handle:
        cid, name, country = line.rstrip("\n").split(",")
        customers[cid] = (name.strip(), country.upper() or "??")

stats = {}
for row in csv.DictReader(open("orders.csv")):
    if row["status"].lower() != "shipped":
        continue
    if row["day"] < "2024-02-01":
        continue
    name, country = customers.get(row["customer_id"], ("unknown", "??"))
    key = (row["customer_id"], name, country)
    entry = stats.setdefault(key, {"orders": 0, "total": 0.0, "products": set()})
    entry["orders"] += 1
    entry["total"] += float(row["amount"]) if row["amount"] else 0.0
    entry["products"].add(row["product"])

result = []
for (cid, name, country), entry in stats.items():
    if entry["total"] >= 100:
        tier = "gold"
    elif entry["orders"] > 1:
        tier = "regular"
    else:
        tier = "new"
    result.append((int(cid), name, country, entry["orders"], round(entry["total"], 2), len(entry["products"]), tier))

for line in sorted(result):
    print(*line, sep="\t")
