"""Fan-out of plausibility grading: which items each chunk grades (whole items, in the candidates' order), the
chunk's share of the inputs, and the one result the chunks' results make."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from likra.scoring.chunks import split_ids
from mining.plausibility import Plausibility
from warehouse.items import Item


def plausibility_chunks(candidates: pl.DataFrame, chunk_items: int | None) -> list[list[str]]:
    """The item ids of each chunk: every item with candidates, in the order the candidates list them."""
    return split_ids(candidates["item_id"].unique(maintain_order=True).to_list(), chunk_items)


def chunk_share(
    items: Sequence[Item], candidates: pl.DataFrame, item_ids: Sequence[str]
) -> tuple[list[Item], pl.DataFrame]:
    """The items of one chunk and their candidates (plausibility is per item: gold, rank and margins)."""
    wanted = set(item_ids)
    return [item for item in items if item.item_id in wanted], candidates.filter(pl.col("item_id").is_in(list(wanted)))


def merge_plausibility(parts: Sequence[Plausibility]) -> Plausibility:
    """The chunks' frames stacked, and their log-likelihood counts summed (a text two chunks share is counted
    by each: its score is the same, read or computed)."""
    logliks = {"model": parts[0].logliks["model"]}
    for key in ("cached", "computed", "unconditional"):
        logliks[key] = sum(p.logliks[key] for p in parts)
    return Plausibility(pl.concat([p.frame for p in parts], how="vertical_relaxed"), logliks)
