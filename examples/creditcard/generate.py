"""Seeded generator of the credit-card example's sources, at any size, in the seed data's format.

``customers.csv``: ``customer_id,customer_email,bank,country,level``; ``mails.csv``:
``mail_id,email,raw_date,mail_subject,mail_text``. No header, comma separated, no quoting: no generated
field contains a comma, a quote or a line break (the messy script splits lines on ``,``).

Every customer writes exactly ``mails_per_customer`` mails, spread over the whole mails file (a permutation
of the mail positions, so the rows of one customer are not stored together). A small fraction of subjects
carry a fake credit-card number (Luhn-valid, 16 digits, grouped by spaces or dashes or not at all) and a
similar fraction carry a decoy: a 16-digit reference number that fails the Luhn check.

Everything is vectorised: DuckDB builds the rows from hashes of the row number and the seed (no Python loop
per row) and writes the files with ``COPY``; only the few card numbers are made in NumPy. The same seed and
size give the same files (with the same DuckDB version).

    python examples/creditcard/generate.py --customers 1000 --out data/
"""
from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np

COUNTRIES = [("UK", 25), ("DE", 25), ("FR", 20), ("US", 10), ("IT", 8), ("ES", 7), ("NL", 5)]
FIRST = ["anna", "ben", "clara", "david", "emma", "felix", "grace", "henry", "isla", "jonas", "karin", "liam",
         "maria", "noah", "olivia", "paul", "quinn", "rosa", "sam", "tara", "umar", "vera", "will", "zoe"]
LAST = ["smith", "muller", "martin", "jones", "schmidt", "bernard", "taylor", "weber", "dubois", "brown",
        "fischer", "moreau", "wilson", "wagner", "laurent", "evans", "becker", "roux", "walker", "hoffmann"]
DOMAINS = ["mail.example", "post.example", "inbox.example", "web.example", "net.example"]
BANKS = ["Thames Savings", "Rhein Bank", "Banque du Nord", "Harbour Trust", "Alpen Kredit", "Lumiere Finance",
         "Northgate Bank", "Elbe Sparkasse", "Credit Mistral", "Union Capital"]
SUBJECTS = ["Urgent question", "Thanks!", "Complaint", "Question about fees", "My bank account",
            "Problem with a transfer", "Feedback", "Card payment", "Address change", "Help needed",
            "Statement request", "Online banking"]
OPENERS = [
    "I am unbelievable angry about your bank and I have a complaint.",
    "I wanted to say thank you for the great service that your bank is offering for my bank account.",
    "I have a question about my bank account.",
    "I want to file a complaint about the fees on my bank account.",
    "Please update my address in your records.",
    "Your app is great but the transfer took too long.",
    "This is a formal complaint about the way my case was handled.",
    "I am happy with my new savings plan.",
]
FILLERS = [
    "The branch staff were friendly and helpful.",
    "This is the third time I had to call your hotline.",
    "My transfer from last week has still not arrived.",
    "I am happy with the new online banking.",
    "The fees are unacceptable and I am disappointed.",
    "Please call me back as soon as possible.",
    "I moved to a new city last month.",
    "Thank you for the quick reply.",
    "The statement shows a payment I never made.",
    "Everything else works fine.",
    "I expect an answer within a week.",
    "The interest rate is a good deal.",
]
CARD_FRACTION = 0.0005  # subjects with a (fake, Luhn-valid) card number
DECOY_FRACTION = 0.0005  # subjects with a 16-digit reference number that fails the Luhn check


def spread_step(n: int) -> int:
    """A step coprime with ``n`` near ``n`` times the golden ratio: ``i * step % n`` is a permutation of
    ``range(n)`` that puts neighbouring positions far apart.

    Example:
        >>> sorted(i * spread_step(10) % 10 for i in range(10)) == list(range(10))
        True
    """
    step = max(1, int(n * 0.6180339887))
    while np.gcd(step, n) != 1:
        step += 1
    return step


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values, salt: int) -> str:
    """A SQL expression choosing one of ``values`` for row ``i``, from a hash of the row, the seed and ``salt``."""
    return f"{_sql_list(values)}[1 + (hash(i, $seed, {salt}) % {len(values)})::INTEGER]"


def _luhn_digit(partial: np.ndarray) -> np.ndarray:
    """The check digit for each row of 15 digits (the rightmost digit of the partial number is doubled)."""
    digits = partial[:, ::-1].copy()
    doubled = digits[:, 0::2] * 2
    digits[:, 0::2] = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - digits.sum(axis=1) % 10) % 10


def card_numbers(count: int, rng: np.random.Generator, valid: bool = True) -> list[str]:
    """``count`` fake 16-digit card numbers (Visa- or Mastercard-like prefixes); ``valid=False`` gives numbers
    whose check digit is wrong. Grouped by spaces, by dashes or not at all.

    Example:
        >>> numbers = card_numbers(3, np.random.default_rng(0))
        >>> [len(n.replace(" ", "").replace("-", "")) for n in numbers]
        [16, 16, 16]
    """
    partial = rng.integers(0, 10, size=(count, 15))
    partial[:, 0] = rng.choice([4, 5], size=count)
    partial[:, 1] = np.where(partial[:, 0] == 5, rng.integers(1, 6, size=count), partial[:, 1])
    check = _luhn_digit(partial)
    if not valid:
        check = (check + rng.integers(1, 10, size=count)) % 10
    numbers = np.concatenate([partial, check[:, None]], axis=1)
    styles = rng.integers(0, 3, size=count)
    result = []
    for number, style in zip(numbers, styles):
        text = "".join(map(str, number))
        groups = [text[k:k + 4] for k in range(0, 16, 4)]
        result.append([" ".join(groups), "-".join(groups), text][style])
    return result


def generate(out: str | Path, customers: int = 1000, mails_per_customer: int = 10, seed: int = 0,
             card_fraction: float = CARD_FRACTION, decoy_fraction: float = DECOY_FRACTION) -> dict:
    """Write ``customers.csv`` and ``mails.csv`` into ``out``; returns their paths and row counts."""
    if customers < 1 or mails_per_customer < 1:
        raise ValueError("customers and mails_per_customer must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mails = customers * mails_per_customer
    step = spread_step(mails)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        countries = [c for c, weight in COUNTRIES for _ in range(weight)]
        con.execute(f"""
            CREATE TABLE customers AS
            SELECT i AS customer_id,
                   {_pick(FIRST, 1)} || '.' || {_pick(LAST, 2)} || i || '@' || {_pick(DOMAINS, 3)} AS customer_email,
                   {_pick(BANKS, 4)} AS bank,
                   {_pick(countries, 5)} AS country,
                   CASE WHEN hash(i, $seed, 6) % 5 = 0 THEN 'premium' ELSE 'standard' END AS level
            FROM range($n) r(i)""", {"seed": seed, "n": customers})
        con.execute(f"""
            CREATE TABLE mails AS
            SELECT i, ((i * {step} + hash($seed) % $m) % $m) // $per AS customer,
                   (hash(i, $seed, 10) % 1000000) / 1000000.0 AS u,
                   {_pick(SUBJECTS, 11)} AS subject,
                   {_pick(OPENERS, 12)} || ' ' || {_pick(FILLERS, 13)} || ' ' || {_pick(FILLERS, 14)} AS body,
                   DATE '2021-01-01' + (hash(i, $seed, 15) % 1095)::INTEGER AS raw_date,
                   md5(i::VARCHAR || ':' || $seed::VARCHAR) AS h
            FROM range($m) r(i)""", {"seed": seed, "m": mails, "per": mails_per_customer})
        flagged = con.execute("SELECT i, u < $card FROM mails WHERE u < $card + $decoy ORDER BY i",
                              {"card": card_fraction, "decoy": decoy_fraction}).fetchall()
        rng = np.random.default_rng(seed)
        valid = [i for i, is_card in flagged if is_card]
        decoys = [i for i, is_card in flagged if not is_card]
        suffixes = ([f"my card is {n}" for n in card_numbers(len(valid), rng)]
                    + [f"reference {n}" for n in card_numbers(len(decoys), rng, valid=False)])
        con.execute("CREATE TABLE suffix (i BIGINT, suffix VARCHAR)")
        if flagged:
            con.executemany("INSERT INTO suffix VALUES (?, ?)", list(zip(valid + decoys, suffixes)))
        con.execute(f"COPY customers TO '{out / 'customers.csv'}' (HEADER false, QUOTE '', DELIMITER ',')")
        con.execute(f"""
            COPY (SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-'
                         || substr(h, 17, 4) || '-' || substr(h, 21, 12),
                         c.customer_email, m.raw_date,
                         CASE WHEN s.suffix IS NULL THEN m.subject ELSE m.subject || ' ' || s.suffix END,
                         m.body
                  FROM mails m JOIN customers c ON c.customer_id = m.customer
                  LEFT JOIN suffix s ON s.i = m.i
                  ORDER BY m.i)
            TO '{out / 'mails.csv'}' (HEADER false, QUOTE '', DELIMITER ',', DATEFORMAT '%Y-%m-%d')""")
    finally:
        con.close()
    return {"customers": out / "customers.csv", "mails": out / "mails.csv", "customer_rows": customers,
            "mail_rows": mails, "card_mails": len(valid), "decoy_mails": len(decoys)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--mails-per-customer", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)
    made = generate(args.out, args.customers, args.mails_per_customer, args.seed)
    print(f"wrote {made['customers']} ({made['customer_rows']} rows) and {made['mails']} ({made['mail_rows']} rows, "
          f"{made['card_mails']} with a card number, {made['decoy_mails']} with a decoy number)")


if __name__ == "__main__":
    main()
