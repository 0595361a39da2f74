"""The writer pool's limit by warehouse backend: how many warehouse-writing steps may run at once, across runs."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.resources import WAREHOUSE_POOL
from warehouse.env import env_int
from warehouse.errors import WarehouseError
from warehouse.location import resolve_location

POOL_LIMIT_ENV = "LIKRA_WRITER_POOL_LIMIT"
# A DuckDB file, and a DuckLake catalog in a DuckDB file, take one writer process. DuckLake catalogs in SQLite
# (processes of one machine) or PostgreSQL (many machines) take concurrent writers whose commits take turns, so
# there the limit only trades throughput against commit retries.
BACKEND_LIMITS = {"file": 1, "duckdb": 1, "sqlite": 2, "postgres": 4}


def writer_pool_limit(db: str | None = None, limit: int | None = None) -> int:
    """The pool limit for the warehouse `db` (default $LIKRA_DB): `limit`, else $LIKRA_WRITER_POOL_LIMIT, else the
    backend's default; more than one writer is refused where the backend takes one writer process."""
    location = resolve_location(db)
    kind = location.catalog_kind
    chosen = limit if limit is not None else env_int(POOL_LIMIT_ENV, BACKEND_LIMITS[kind], minimum=1)
    if chosen < 1:
        raise WarehouseError(f"the writer pool needs at least 1 slot, not {chosen}")
    if chosen > 1 and BACKEND_LIMITS[kind] == 1:
        raise WarehouseError(
            f"warehouse {location.text!r} takes one writer process at a time: its writer pool stays "
            f"at 1 (DuckLake on SQLite or PostgreSQL takes concurrent writers)"
        )
    return chosen


def set_writer_pool_limit(instance: dg.DagsterInstance, limit: int) -> None:
    """Store the limit in the instance (for a PostgreSQL instance: for every machine), over dagster.yaml's default."""
    instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, limit)


def current_writer_pool_limit(instance: dg.DagsterInstance) -> int | None:
    """The limit the instance applies to the writer pool now (its own setting, else dagster.yaml's default)."""
    if WAREHOUSE_POOL in instance.event_log_storage.get_concurrency_keys():
        return instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count
    return instance.get_concurrency_config().pool_config.default_pool_limit
