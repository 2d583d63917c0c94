"""ivm: keep materialised SQL views (and the ML data built on them) equal to a full recompute when
source rows are deleted, by maintaining them incrementally inside DuckDB.

The names below are imported on first use: ``import ivm`` stays cheap, so the ``ivm`` command can start
with nothing loaded and answer Ctrl-C while DuckDB and sqlglot load with one line (:mod:`ivm.launch`)."""
from __future__ import annotations

__all__ = ["Database", "IvmError", "connect"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``ivm.connect``, ``ivm.Database`` and ``ivm.IvmError``, imported when first asked for."""
    if name == "IvmError":
        from ivm.errors import IvmError
        return IvmError
    if name in ("Database", "connect"):
        from ivm.store import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'ivm' has no attribute {name!r}")
