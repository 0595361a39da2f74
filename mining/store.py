"""The mining tables in the warehouse: a benchmark's candidate set (stored as soon as it is found,
reused while its inputs are unchanged) and its graded negatives with the run that made them.

Every write replaces one benchmark's rows inside one transaction, so a failed or killed run leaves
the previous rows in place.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from mining.candidates import CANDIDATE_SCHEMA, CandidateSet
from mining.config import MiningConfig
from mining.summary import MiningSummary
from warehouse.db import write_transaction
from warehouse.negatives import GRADED_COLUMNS
from warehouse.sinks import replace_benchmark_rows


@dataclass
class StoredCandidates:
    """A benchmark's candidate set as the warehouse holds it."""

    found: CandidateSet
    run_id: str  # the run that found it


def write_candidates(
    con: duckdb.DuckDBPyConnection, benchmark: str, run_id: str, found: CandidateSet, inputs_key: str
) -> None:
    """Replace the benchmark's candidates and record what they were mined from (one transaction)."""
    rows = found.frame.with_columns(pl.lit(run_id).alias("mining_run_id"))

    def replace(con: duckdb.DuckDBPyConnection) -> None:
        replace_benchmark_rows(con, "candidates", benchmark, rows)
        con.execute("DELETE FROM candidate_sets WHERE benchmark = ?", [benchmark])
        con.execute(
            "INSERT INTO candidate_sets VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [benchmark, inputs_key, run_id, json.dumps(dict(found.removed)), found.items_without],
        )

    write_transaction(con, replace)


def stored_candidates(con: duckdb.DuckDBPyConnection, benchmark: str, inputs_key: str) -> StoredCandidates | None:
    """The benchmark's stored candidate set if it was mined from inputs with this key, else None."""
    row = con.execute(
        "SELECT mining_run_id, removed, items_without FROM candidate_sets WHERE benchmark = ? AND inputs_key = ?",
        [benchmark, inputs_key],
    ).fetchone()
    if row is None:
        return None
    run_id, removed, items_without = row
    frame = con.execute(f"SELECT {', '.join(CANDIDATE_SCHEMA)} FROM candidates WHERE benchmark = ?", [benchmark]).pl()
    frame = frame.cast(CANDIDATE_SCHEMA)
    return StoredCandidates(CandidateSet(frame, Counter(json.loads(removed)), items_without), run_id)


def write_graded(
    con: duckdb.DuckDBPyConnection,
    summary: MiningSummary,
    config: MiningConfig,
    graded: pl.DataFrame,
    started: datetime,
) -> None:
    """Replace the benchmark's graded negatives and record the run, in one transaction."""
    frame = (
        graded.rename({"text": "negative"})
        .with_columns(pl.lit(summary.run_id).alias("mining_run_id"))
        .select(GRADED_COLUMNS)
    )

    def replace(con: duckdb.DuckDBPyConnection) -> None:
        replace_benchmark_rows(con, "graded_negatives", summary.benchmark, frame)
        con.execute(
            "INSERT INTO mining_runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
            [
                summary.run_id,
                summary.benchmark,
                summary.config_hash,
                config.model_dump_json(),
                started,
                json.dumps(summary.as_dict()),
            ],
        )

    write_transaction(con, replace)
