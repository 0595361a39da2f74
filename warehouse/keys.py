"""The key of each table whose rows belong to benchmark items, and a count of keys held by more than one row.

A DuckDB file enforces these keys itself; DuckLake has no constraints, so its writers keep keys unique and
the pipeline's asset checks count duplicates after every write, on either backend."""

from __future__ import annotations

import duckdb

ITEM_TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "items": ("item_id",),
    "choice_scores": ("item_id", "choice", "model", "adapter", "fewshot"),
    "candidates": ("item_id", "norm_hash"),
    "graded_negatives": ("item_id", "norm_hash"),
}


def duplicate_keys(con: duckdb.DuckDBPyConnection, table: str, benchmark: str) -> int:
    """How many keys of `table` are held by more than one row, among the rows of the benchmark's items."""
    if table not in ITEM_TABLE_KEYS:
        raise ValueError(f"no key is known for table {table!r}; one of {sorted(ITEM_TABLE_KEYS)}")
    key = ", ".join(ITEM_TABLE_KEYS[table])
    # item_id is `<benchmark>/<split>/...`, so a prefix selects a benchmark's rows in every table.
    return con.execute(
        f"SELECT count(*) FROM (SELECT {key} FROM {table} WHERE starts_with(item_id, ? || '/') "
        f"GROUP BY ALL HAVING count(*) > 1)",
        [benchmark],
    ).fetchone()[0]
