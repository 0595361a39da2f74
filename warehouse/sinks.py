"""Where computed rows go: straight into the warehouse, or staged as Parquet for a short writer step.

Scoring and mining write cache and result rows through a `Sink`. `WarehouseSink` writes each call in
its own short transaction (the write lock is not held while a model runs); `StagingSink` writes
Parquet parts that a pipeline writer step moves in later with `load_staged`. Either way the same
rows reach the same tables, and loading the same rows twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

from warehouse.db import connect, is_ducklake, write_transaction
from warehouse.location import DbRef

# How new rows meet existing ones, per table the sinks write. `ignore` and `replace` use the table's
# primary key; `text_embeddings` has none (a growing key index made every checkpoint slower), so its
# writers skip cached keys with an anti-join; `swap` replaces every row sharing the key's values.
# DuckLake has no keys at all: there `ignore` is an anti-join and `replace` a delete of the keys then an
# insert, made safe against concurrent writers by `write_transaction`.
WRITE_MODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "loglik_cache": ("ignore", ("model", "adapter", "context_hash", "continuation_hash")),
    "choice_scores": ("replace", ("item_id", "choice", "model", "adapter", "fewshot")),
    "score_runs": ("ignore", ("run_id",)),
    "text_embeddings": ("anti_join", ("model", "text_hash")),
    "likra_training_sets": ("ignore", ("set_id",)),
    "likra_set_items": ("ignore", ("set_id", "item_id")),
    "likra_training_rows": ("ignore", ("set_id", "head", "position")),
    "likra_runs": ("replace", ("run_id",)),
    "likra_checkpoints": ("replace", ("run_id", "head", "n_examples")),
    "likra_weights": ("ignore", ("run_id", "w")),
    "likra_experiments": ("replace", ("experiment_id",)),
    "likra_experiment_results": ("swap", ("experiment_id",)),
    "question_keys": ("ignore", ("text_hash",)),
}


def save_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Add rows to one of the tables sinks write, inside the caller's transaction if any."""
    if table not in WRITE_MODES:
        raise ValueError(f"{table!r} is not a table sinks write; known: {', '.join(WRITE_MODES)}")
    mode, key = WRITE_MODES[table]
    if frame.is_empty():
        return
    if mode in ("ignore", "replace") and is_ducklake(con):
        mode = "anti_join" if mode == "ignore" else "delete_insert"
    con.register("new_rows", frame)
    columns = ", ".join(key)
    try:
        if mode == "ignore":
            con.execute(f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM new_rows")
        elif mode == "replace":
            con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM new_rows")
        elif mode in ("swap", "delete_insert"):
            con.execute(f"DELETE FROM {table} WHERE ({columns}) IN (SELECT DISTINCT {columns} FROM new_rows)")
            rows = "*" if mode == "swap" else f"DISTINCT ON ({columns}) *"
            con.execute(f"INSERT INTO {table} BY NAME SELECT {rows} FROM new_rows")
        else:
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT DISTINCT ON ({columns}) * FROM new_rows "
                f"ANTI JOIN {table} USING ({columns})"
            )
    finally:
        con.unregister("new_rows")


def replace_benchmark_rows(con: duckdb.DuckDBPyConnection, table: str, benchmark: str, frame: pl.DataFrame) -> None:
    """Swap a benchmark's rows of `table` for `frame` (inside the caller's transaction)."""
    con.register("new_rows", frame)
    try:
        con.execute(f"DELETE FROM {table} WHERE benchmark = ?", [benchmark])
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_rows")
    finally:
        con.unregister("new_rows")


class Sink(Protocol):
    """Where a step's new rows go; `write(loglik_cache=..., choice_scores=...)` keeps them together."""

    def write(self, **frames: pl.DataFrame) -> None: ...


class WarehouseSink:
    """Writes each call's frames in one short transaction."""

    def __init__(self, db: DbRef = None):
        self.db = db

    def write(self, **frames: pl.DataFrame) -> None:
        def save(con: duckdb.DuckDBPyConnection) -> None:
            for table, frame in frames.items():
                save_rows(con, table, frame)

        with connect(self.db) as con:
            write_transaction(con, save)


class StagingSink:
    """Parquet parts per table, plus small JSON documents, in one folder beside the warehouse.

    Frames of tables the warehouse does not know (a step's hand-off to the next) are staged the same
    way and read back with `read`; `load_staged` moves only warehouse tables.
    """

    def __init__(self, folder: Path, *, fresh: bool = True):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if fresh:
            for old in folder.glob("*"):
                old.unlink()

    def write(self, **frames: pl.DataFrame) -> None:
        for table, frame in frames.items():
            index = len(list(self.folder.glob(f"{table}-*.parquet")))
            partial = self.folder / f"{table}-{index:05d}.parquet.partial"
            frame.write_parquet(partial)
            partial.rename(partial.with_suffix(""))  # a killed writer leaves no half part behind

    def frames(self, table: str) -> Iterator[pl.DataFrame]:
        """The parts of `table`, in the order written."""
        for part in sorted(self.folder.glob(f"{table}-*.parquet")):
            yield pl.read_parquet(part)

    def read(self, table: str) -> pl.DataFrame:
        """Every staged row of `table` as one frame."""
        parts = list(self.frames(table))
        if not parts:
            raise FileNotFoundError(f"nothing staged for {table} in {self.folder}: run the step that computes it first")
        return pl.concat(parts, how="vertical_relaxed")

    def write_json(self, name: str, data: Any) -> None:
        (self.folder / f"{name}.json").write_text(json.dumps(data, default=str))

    def read_json(self, name: str) -> Any:
        path = self.folder / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"nothing staged in {self.folder}: run the step that computes it first")
        return json.loads(path.read_text())


def restage(source: StagingSink, target: StagingSink) -> None:
    """Hand every staged warehouse table of `source` on to `target` (a chunk's rows to the step's writer)."""
    for table in WRITE_MODES:
        for frame in source.frames(table):
            target.write(**{table: frame})


def load_staged(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Move every staged warehouse table in `folder` into the warehouse, in one transaction; rows per table."""
    staged = StagingSink(folder, fresh=False)

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        loaded: dict[str, int] = {}
        for table in WRITE_MODES:
            for frame in staged.frames(table):
                save_rows(con, table, frame)
                loaded[table] = loaded.get(table, 0) + frame.height
        return loaded

    return write_transaction(con, load)
