#!/usr/bin/env bash
# Rewrite each example pipeline into DuckDB views from its reference replay file (no network, no API key):
# the original script and the views run side by side on the real data and on generated variants of it.
set -euo pipefail
cd "$(dirname "$0")"
OUT="${OUT:-$(mktemp -d)}"

ivm rewrite loops_dict_join/pipeline.py \
    --source customers=loops_dict_join/customers.csv --source orders=loops_dict_join/orders.csv \
    --result-var result --columns customer_id,name,country,orders,total,products,tier \
    --replay loops_dict_join/reference.jsonl --out "$OUT/loops_dict_join"

ivm rewrite pandas_merge_groupby/pipeline.py \
    --source employees=pandas_merge_groupby/employees.csv --source departments=pandas_merge_groupby/departments.csv \
    --result-var summary --replay pandas_merge_groupby/reference.jsonl --out "$OUT/pandas_merge_groupby"

ivm rewrite multi_file_union/pipeline.py \
    --source products=multi_file_union/products.csv --source store_q1=multi_file_union/store_q1.csv \
    --source store_q2=multi_file_union/store_q2.csv --source web=multi_file_union/web.csv \
    --result-file report.csv --replay multi_file_union/reference.jsonl --out "$OUT/multi_file_union"

ivm rewrite udf_sentiment/pipeline.py \
    --source products=udf_sentiment/products.csv --source reviews=udf_sentiment/reviews.csv \
    --result-var result --replay udf_sentiment/reference.jsonl --out "$OUT/udf_sentiment"

ivm rewrite healthcare_labels/pipeline.py \
    --source patients=healthcare_labels/data/patients.csv --source histories=healthcare_labels/data/histories.csv \
    --result-var data --replay healthcare_labels/reference.jsonl --out "$OUT/healthcare_labels"

ivm rewrite titanic_features/pipeline.py --source train=titanic_features/train.csv \
    --result-var df --replay titanic_features/reference.jsonl --out "$OUT/titanic_features"

ivm rewrite european_export/pipeline.py \
    --source messwerte=european_export/export/messwerte.csv --source stationen=european_export/export/stationen.csv \
    --result-file ergebnis.csv --replay european_export/reference.jsonl --out "$OUT/european_export"

echo "results in $OUT"
