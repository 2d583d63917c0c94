"""The ML layer: feature sets over a data-prep view, kept equal to a full rerun when source rows are deleted.

    import ivm
    from ivm import ml

    with ivm.connect("shop.duckdb") as db:
        spec = ml.feature_spec("churn", "customers_prep", [
            ml.passthrough("tenure"), ml.standard("income"), ml.onehot("country"),
            ml.bucket("age", edges=[18, 30, 50]), ml.hashed("review", dims=16),
            ml.udf(sentiment, "review")], label="churned", test_fraction=0.2, seed=7)
        ml.deploy(db, spec)                       # or ml.deploy(db, ml.load_spec("churn.yaml"))
        db.delete("customers", "id = 42")         # maintains prep, statistics, rows, split, audit log
        X_train, y_train, X_test, y_test = ts = ml.training_set(db, "churn")
        ts.ids_train                              # source row ids of every training row

See ``ivm/ml/spec.py`` for the spec file format, ``compile.py`` for what each feature computes.
"""
from ivm.ml.export import FORMATS, TrainingSet, export, training_set
from ivm.ml.features import deploy, drop, get, sets
from ivm.ml.spec import (Feature, FeatureSpec, bucket, feature_spec, hashed, minmax, onehot, parse, passthrough,
                         standard, udf)
from ivm.ml.spec import load as load_spec

__all__ = ["FORMATS", "Feature", "FeatureSpec", "TrainingSet", "bucket", "deploy", "drop", "export",
           "feature_spec", "get", "hashed", "load_spec", "minmax", "onehot", "parse", "passthrough", "sets",
           "standard", "training_set", "udf"]
