"""Quality measures of ingested items, computed in SQL; the pipeline turns them into asset checks."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class ItemsQuality:
    """Counts of items that would break scoring, and how many rows the last ingestion rejected."""

    n_items: int
    duplicate_ids: int
    gold_out_of_range: int
    too_few_choices: int
    n_rejects: int

    @property
    def reject_rate(self) -> float:
        total = self.n_items + self.n_rejects
        return self.n_rejects / total if total else 0.0


def items_quality(con: duckdb.DuckDBPyConnection, benchmark: str) -> ItemsQuality:
    """Measure one benchmark's items as stored in the warehouse."""
    n_items, duplicates, gold_bad, few = con.execute(
        """
        SELECT count(*),
               count(*) - count(DISTINCT item_id),
               count(*) FILTER (WHERE gold < 0 OR gold >= len(choices)
                                OR coalesce(list_bool_or(list_transform(golds, g -> g < 0 OR g >= len(choices))),
                                            false)),
               count(*) FILTER (WHERE len(list_filter(choices, c -> trim(c) <> '')) < 2)
        FROM items WHERE benchmark = ?
        """,
        [benchmark],
    ).fetchone()
    rejects = con.execute("SELECT count(*) FROM ingest_rejects WHERE benchmark = ?", [benchmark]).fetchone()[0]
    return ItemsQuality(n_items, duplicates, gold_bad, few, rejects)
