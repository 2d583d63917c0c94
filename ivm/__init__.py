"""ivm: keep materialised SQL views (and the ML data built on them) equal to a full recompute when
source rows are deleted, by maintaining them incrementally inside DuckDB."""
from ivm.errors import IvmError
from ivm.store.engine import Database, connect

__all__ = ["Database", "IvmError", "connect"]
__version__ = "0.1.0"
