"""Read-only SQL over the warehouse: one SELECT-like statement, no writes, no other files."""

from __future__ import annotations

import os

import duckdb
import polars as pl

from warehouse.db import connect_read_only
from warehouse.errors import ReadOnlyViolation, WarehouseError

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_READS = "SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, PRAGMA show_tables and EXPLAIN"


def check_read_only(query: str) -> str:
    """The single statement in `query` if it only reads; ReadOnlyViolation otherwise."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise WarehouseError(f"SQL syntax error: {exc}") from exc
    if len(statements) != 1:
        raise ReadOnlyViolation(f"refused: give exactly one statement (found {len(statements)})")
    statement = statements[0]
    if statement.type not in _ALLOWED:
        kind = statement.type.name
        raise ReadOnlyViolation(
            f"refused: {kind} statements are not allowed; the warehouse is read-only here "
            f"(it runs {_READS}). Change data through `likra ingest` and the pipeline."
        )
    return query


def run_query(query: str, db: str | os.PathLike[str] | None = None) -> pl.DataFrame:
    """Run one read-only statement on a read-only, sandboxed connection and return its rows."""
    check_read_only(query)
    con = connect_read_only(db, sandbox=True)
    try:
        return con.sql(query).pl()
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused: the query reaches outside the warehouse ({exc})") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {exc}") from exc
    finally:
        con.close()
