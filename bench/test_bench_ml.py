"""ML pipelines: deleting 10 source rows incrementally vs a full rerun of prep, statistics, UDF features,
X and y, side by side in one run.

    pytest bench/test_bench_ml.py --benchmark-enable --benchmark-json=bench/results_ml.json
    python bench/report.py bench/results_ml.json

(about 20 minutes, nearly all of it the two reruns with the costly UDF: 100 s and 1000 s;
``IVM_BENCH_ML_SIZES=10000`` runs a quick smoke version).

``reviews`` (N rows, the prepared rows) joined with ``products`` (N / 100 rows); the feature set has a
passthrough, standard and min-max scaling, a one-hot over 20 categories, buckets, 8 hashed token columns and
an 8-dimensional Python UDF embedding of the review text. Two pipelines differ only in that UDF:

* ``udf_dominates``: the embedding costs ``COST_PER_ROW`` = 1 ms per row (a NumPy computation plus a
  ``time.sleep`` standing in for model inference, about what a small sentence-embedding model costs per
  sentence on a CPU); the sleep keeps the shared machine's cores free during the long rerun;
* ``udf_light``: the same NumPy computation with no extra cost, so SQL dominates the rerun.

Methods per group: ``incremental`` (``Database.delete``: source DELETE, prep view, statistics views, feature
row table and audit log in one transaction; X and y are computed on demand), ``export`` (computing X, y,
split and lineage from the maintained state, as every training run does on either path) and ``full_rerun``
(the same DELETE, then every view recomputed, every UDF value computed again, X and y built).
"""
from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pytest

import ivm
from ivm import ml
from ivm.ml import features as ml_features

SIZES = [int(n) for n in os.environ.get("IVM_BENCH_ML_SIZES", "100000,1000000").split(",")]
COST_PER_ROW = 1e-3
PIPELINES = {"udf_dominates": COST_PER_ROW, "udf_light": 0.0}

VIEWS = """CREATE VIEW prep AS
SELECT r.id, r.stars, r.body, r.price, p.category
FROM reviews r JOIN products p ON r.pid = p.id"""


def embedding(values):
    """8 numbers per text from Arrow compute and NumPy (vectorised)."""
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False).astype(float)
    words = pc.count_substring(values, " ").to_numpy(zero_copy_only=False).astype(float) + 1
    great = pc.count_substring(values, "great").to_numpy(zero_copy_only=False).astype(float)
    return np.column_stack([lengths, words, great, lengths / words, np.sqrt(lengths), np.log1p(words),
                            great * lengths, np.ones(len(values))])


def costly(cost: float):
    def embed(values):
        if cost:
            time.sleep(cost * len(values))
        return embedding(values)
    return embed


def source_sql(rows: int) -> dict[str, str]:
    return {
        "products": f"SELECT i AS id, 'category ' || (i % 20) AS category FROM range({rows // 100}) r(i)",
        "reviews": f"SELECT i AS id, (hash(i) % {rows // 100})::BIGINT AS pid, 1 + (hash(i * 3) % 5)::INTEGER AS stars, "
                   f"['great', 'fine', 'bad', 'ok'][1 + (i % 4)] || ' product, ' || (hash(i) % 997) || ' words ' "
                   f"|| repeat('x', (i % 13)::INTEGER) AS body, "
                   f"((hash(i * 7) % 100000) / 100)::DECIMAL(10, 2) AS price FROM range({rows}) r(i)",
    }


def spec():
    return ml.feature_spec("reviews_fs", "prep", [
        ml.passthrough("stars"), ml.standard("price"), ml.minmax("stars"), ml.onehot("category"),
        ml.bucket("price", edges=[100, 500, 900]), ml.hashed("body", dims=8),
        ml.udf(embedding, "body", dims=8, name="embed", batch_size=65536)], label="stars >= 4", test_fraction=0.2,
        seed=1)


@pytest.fixture(scope="session")
def ml_built(base_dir):
    cache = {}

    def get(rows: int) -> Path:
        if rows not in cache:
            path = base_dir / f"ml_{rows}.duckdb"
            maker = duckdb.connect()
            with ivm.connect(path) as db:
                for name, sql in source_sql(rows).items():
                    db.load(name, maker.sql(sql).to_arrow_table())
                db.deploy(VIEWS)
                ml.deploy(db, spec())  # UDF values computed once here (setup, not measured)
            cache[rows] = path
        return cache[rows]
    return get


def predicates(rows: int):
    rng = random.Random(7)
    while True:
        yield f"id IN ({', '.join(map(str, rng.sample(range(rows), 10)))})"


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("method", ["incremental", "export", "full_rerun"])
def test_ml_deletion(benchmark, ml_built, tmp_path, pipeline, rows, method):
    benchmark.group = f"ml-{pipeline}-{rows}"
    benchmark.extra_info.update(suite="ml", pipeline=pipeline, rows=rows, deletion="10_rows", method=method,
                                udf_cost_per_row=PIPELINES[pipeline])
    if method == "export" and pipeline != "udf_light":
        pytest.skip("the export does not call the UDF: measured once, in udf_light")
    path = tmp_path / "work.duckdb"
    shutil.copy(ml_built(rows), path)
    supply = predicates(rows)
    db = ivm.connect(path)
    ml_features.register_functions(db, "reviews_fs", {"embed": costly(PIPELINES[pipeline])})
    if method == "incremental":
        benchmark.pedantic(lambda p: db.delete("reviews", p), setup=lambda: ((next(supply),), {}), rounds=7,
                           iterations=1)
    elif method == "export":
        db.delete("reviews", next(supply))
        benchmark.pedantic(lambda: ml.training_set(db, "reviews_fs"), rounds=3, iterations=1)
    else:
        def rerun(predicate):
            db.con.execute(f'DELETE FROM "_ivm"."reviews" WHERE {predicate}')
            db.con.begin()
            ml_features.forget_rows(db)
            db.con.commit()
            report = db.recompute()
            assert sum(report["features"]["reviews_fs"]["udf_rows"].values()) > 0.99 * rows
            return ml.training_set(db, "reviews_fs")
        benchmark.pedantic(rerun, setup=lambda: ((next(supply),), {}), rounds=1 if PIPELINES[pipeline] else 3,
                           iterations=1)
    db.close()
