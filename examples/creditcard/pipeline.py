"""Training data for a complaint model at a bank, the way it grew: lines split by hand, a dict as the join,
a word-list sentiment function, and hand-rolled feature encoding at the end.

Reads customers.csv (customer_id,customer_email,bank,country,level) and mails.csv
(mail_id,customer_email,raw_date,mail_subject,mail_text): no header, comma separated, no quoting.
Keeps customers from the UK, Germany and France and their mails from 2022 that mention a complaint or a
bank account; the label is "negative sentiment and premium customer".
"""
import re
import zlib

import numpy as np

COUNTRIES = ("UK", "DE", "FR")
POSITIVE = {"thank", "great", "happy", "good", "friendly", "helpful", "fine", "quick", "pleased", "deal"}
NEGATIVE = {"angry", "complaint", "unacceptable", "disappointed", "never", "not", "wrong", "long", "formal"}
HASH_DIMS = 16


def sentiment(text: str) -> float:
    """Share of positive minus negative words, rounded to 3 digits."""
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        return 0.0
    score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    return round(score / len(words), 3)


customers = {}
for line in open("customers.csv"):
    fields = line.rstrip("\n").split(",")
    if fields[3] not in COUNTRIES or not fields[1]:
        continue
    # e-mail -> the customers with that address (a hand-made hash join index)
    customers.setdefault(fields[1], []).append({"customer_id": int(fields[0]), "country": fields[3],
                                                "level": fields[4]})

rows = []
for line in open("mails.csv"):
    mail_id, customer_email, raw_date, subject, text = line.rstrip("\n").split(",")
    if raw_date < "2022-01-01" or raw_date > "2022-12-31":
        continue
    text = text.lower()
    if "complaint" not in text and "bank account" not in text:
        continue
    subject = subject.lower()
    for customer in customers.get(customer_email, []):
        score = sentiment(text)
        rows.append({
            "mail_id": mail_id,
            "customer_id": customer["customer_id"],
            "country": customer["country"],
            "level": customer["level"],
            "subject": subject,
            "text": text,
            "subject_length": len(subject),
            "sentiment": score,
            "label": int(score < 0 and customer["level"] == "premium"),
        })

# ---- features -------------------------------------------------------------------------------------------
def hashed_words(text):
    vector = [0.0] * HASH_DIMS
    for word in re.findall(r"[a-z]+", text):
        vector[zlib.crc32(word.encode()) % HASH_DIMS] += 1.0
    return vector


lengths = np.array([r["subject_length"] for r in rows], dtype=float)
mean, std = (lengths.mean(), lengths.std()) if len(rows) else (0.0, 1.0)
countries = sorted({r["country"] for r in rows})
X, y = [], []
for r in rows:
    features = hashed_words(r["subject"]) + hashed_words(r["text"])
    features.append((r["subject_length"] - mean) / (std or 1.0))
    features += [1.0 if r["country"] == c else 0.0 for c in countries]
    X.append(features)
    y.append(r["label"])
X, y = np.array(X), np.array(y)
print(f"{len(rows)} training rows, {X.shape[1] if len(rows) else 0} features, "
      f"{int(y.sum()) if len(rows) else 0} positive")
