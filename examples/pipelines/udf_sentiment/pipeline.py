"""Review sentiment per product: a word-list sentiment function that has no SQL equivalent (it stays Python
and becomes a DuckDB UDF), a dict join to the product list, and promoter/detractor labels."""
import csv
import re

POSITIVE = {"great", "love", "excellent", "good", "perfect", "happy"}
NEGATIVE = {"bad", "broken", "poor", "terrible", "refund", "slow"}


def sentiment(text: str) -> float:
    """Share of positive minus negative words in a review, rounded to 3 digits."""
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        return 0.0
    score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    return round(score / len(words), 3)


products = {}
for row in csv.DictReader(open("products.csv", newline="")):
    products[row["product_id"]] = row["name"]

per_product = {}
for row in csv.DictReader(open("reviews.csv", newline="")):
    if row["posted"] < "2024-01-01":
        continue
    score = sentiment(row["text"])
    stars = int(row["stars"]) if row["stars"] else None
    if score > 0 and (stars is None or stars >= 4):
        label = "promoter"
    elif score < 0 or (stars is not None and stars <= 2):
        label = "detractor"
    else:
        label = "neutral"
    name = products.get(row["product_id"], "unknown product")
    entry = per_product.setdefault(name, {"reviews": 0, "score": 0.0, "promoters": 0, "detractors": 0,
                                          "reviewers": set()})
    entry["reviews"] += 1
    entry["score"] += score
    entry["promoters"] += label == "promoter"
    entry["detractors"] += label == "detractor"
    entry["reviewers"].add(row["reviewer"].lower())

result = [
    {"product": name, "reviews": e["reviews"], "avg_score": round(e["score"] / e["reviews"], 4),
     "promoters": e["promoters"], "detractors": e["detractors"], "reviewers": len(e["reviewers"])}
    for name, e in per_product.items()
]
for item in result:
    print(item)
