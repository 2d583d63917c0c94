"""Python feature functions for features.yaml: Arrow array in, NumPy array out, no loop per row."""
import numpy as np
import pyarrow.compute as pc


def email_domain_score(values):
    """One number per row: a stand-in for a learned score of the e-mail address."""
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False).astype(float)
    return np.log1p(lengths)


def amount_embedding(values):
    """A 4-dimensional vector per row (think: an embedding from a model)."""
    x = np.asarray(values.to_numpy(zero_copy_only=False), dtype=float)
    return np.column_stack([np.sin(x / 100), np.cos(x / 100), np.log1p(np.abs(x)), np.ones(len(x))])
