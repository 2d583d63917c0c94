"""Monthly units and revenue per category and channel, from two store exports and a web-shop export that
have to be stacked, cleaned and joined to the product list before aggregating; written to report.csv."""
import csv
from collections import defaultdict

products = {}
with open("products.csv", newline="") as handle:
    for row in csv.DictReader(handle):
        products[row["sku"].strip().upper()] = (row["category"].strip().lower(), row["discontinued"] == "yes")

lines = []
for path, channel in [("store_q1.csv", "store"), ("store_q2.csv", "store"), ("web.csv", "web")]:
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            lines.append((channel, row["sku"].strip().upper(), int(row["qty"]), float(row["unit_price"]),
                          row["sold_on"], row.get("promo_code", "")))

totals = defaultdict(lambda: [0, 0.0, set()])
for channel, sku, qty, price, sold_on, promo in lines:
    if qty <= 0:  # returns and corrections
        continue
    if sku not in products:
        continue
    category, discontinued = products[sku]
    if discontinued:
        continue
    revenue = qty * price * (0.9 if promo else 1.0)
    entry = totals[(category, channel, sold_on[:7])]
    entry[0] += qty
    entry[1] += revenue
    entry[2].add(sku)

with open("report.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["category", "channel", "month", "units", "revenue", "skus"])
    for (category, channel, month), (units, revenue, skus) in sorted(totals.items()):
        writer.writerow([category, channel, month, units, f"{revenue:.2f}", len(skus)])
