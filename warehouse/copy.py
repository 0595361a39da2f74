"""Moving a warehouse to another backend (a DuckDB file into DuckLake, or back) without re-ingesting."""

from __future__ import annotations

import os

import duckdb

from warehouse.db import connect, connect_read_only, write_transaction
from warehouse.errors import WarehouseError
from warehouse.location import DbRef, resolve_location

# Bookkeeping each warehouse keeps for itself: the target's own migrations and write turns.
_OWN_TABLES = ("schema_migrations", "warehouse_writes")


def warehouse_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The data tables of the warehouse this connection is on (views and bookkeeping left out), by name."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_catalog = current_database() AND table_schema = 'main' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows if name not in _OWN_TABLES]


def copy_warehouse(source: DbRef, target: str | os.PathLike[str]) -> dict[str, int]:
    """Copy every table of the `source` warehouse into the empty warehouse `target`, in one transaction.

    The target is created with this toolkit's schema first; the source must be at the same schema version
    (open it once read-write to migrate it). Returns the rows copied per table."""
    if resolve_location(source).text == resolve_location(target).text:
        raise WarehouseError(f"warehouse copy: source and target are the same warehouse ({target})")
    with connect_read_only(source) as src, connect(target) as dst:
        tables = warehouse_tables(dst)
        missing = sorted(set(tables) - set(warehouse_tables(src)))
        if missing:
            raise WarehouseError(
                f"warehouse {source}: lacks the tables {', '.join(missing)}; open it once with "
                "this toolkit (any `likra ingest`) to migrate it, then copy"
            )
        filled = [t for t in tables if dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0]]
        if filled:
            raise WarehouseError(
                f"warehouse copy: the target {target} already has rows in {', '.join(filled)}; "
                "copy into a new, empty warehouse"
            )

        def copy_all(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
            copied = {}
            for table in tables:
                # Record batches: the table streams through, it is never held in memory whole.
                reader = src.execute(f"SELECT * FROM {table}").fetch_record_batch()
                con.register("copied_rows", reader)
                try:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM copied_rows")
                finally:
                    con.unregister("copied_rows")
                copied[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            return copied

        return write_transaction(dst, copy_all)
