"""The edge that owns the DuckDB connection: catalog, loading, deployment and the deletion transaction."""
