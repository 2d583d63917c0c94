"""Delta rules: pure functions from a stage (and the ids that changed in its inputs) to SQL expressions.

``materialise`` builds a stage from scratch (the full recompute); ``spj``, ``aggregate`` and ``naive`` hold
the per-shape maintenance rules. Nothing here talks to a database; :mod:`ivm.store` runs what these build.
"""
