"""The DuckDB warehouse: schema and migrations, benchmark sources, ingestion and read-only SQL.

This package knows nothing of torch or Dagster; the other packages build on it.
"""
