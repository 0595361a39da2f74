"""The answer pool: every answer text in the warehouse, normalised and hashed once, with provenance."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from warehouse.text import norm_hash, short_text_hash


def answer_occurrences(con: duckdb.DuckDBPyConnection, benchmarks: Sequence[str] | None = None) -> pl.DataFrame:
    """One row per (item, choice) of continuation-format items: text, hashes, and whether it is a gold answer."""
    where, params = "format = 'continuation'", []
    if benchmarks:
        where += " AND list_contains(?, benchmark)"
        params.append(list(benchmarks))
    # Source order, so that an answer's first surface form and first item are the same on every run.
    frame = con.execute(
        f"""SELECT item_id, benchmark, choice, text,
                   (choice = gold OR coalesce(list_contains(golds, choice), false)) AS is_gold
            FROM (SELECT item_id, benchmark, split, subset, position, gold, golds, unnest(choices) AS text,
                         unnest(range(len(choices))) AS choice FROM items WHERE {where})
            ORDER BY benchmark, split, subset NULLS FIRST, position, item_id, choice""",
        params,
    ).pl()
    return frame.with_columns(
        pl.col("text").map_elements(short_text_hash, return_dtype=pl.String).alias("text_hash"),
        pl.col("text").map_elements(norm_hash, return_dtype=pl.String).alias("norm_hash"),
    )


def answer_pool(occurrences: pl.DataFrame) -> pl.DataFrame:
    """Distinct answers by normalised text: the first surface form seen, where it occurs, how often it is gold."""
    return occurrences.group_by("norm_hash", maintain_order=True).agg(
        pl.col("text").first(),
        pl.col("text_hash").first(),
        pl.col("item_id").first().alias("first_item_id"),
        pl.col("benchmark").unique().alias("benchmarks"),
        pl.len().alias("n_occurrences"),
        pl.col("is_gold").sum().alias("n_gold"),
    )
