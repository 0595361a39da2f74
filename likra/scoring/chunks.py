"""Fan-out of a benchmark's scoring: which items each chunk scores (whole items, in scoring order, so the
chunks' rows together are the rows of one step), and the one run report the chunks' reports make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from likra.scoring.config import ScoringConfig
from likra.scoring.run import ScoreReport
from warehouse.db import connect_read_only
from warehouse.items import load_items
from warehouse.location import DbRef


def split_ids(item_ids: Sequence[str], chunk_items: int | None) -> list[list[str]]:
    """Consecutive runs of at most `chunk_items` ids in the given order; one run of all when None (never no run,
    so an empty benchmark still makes one step and one report)."""
    if chunk_items is not None and chunk_items < 1:
        raise ValueError(f"chunk_items must be at least 1, not {chunk_items}")
    ids = list(item_ids)
    if chunk_items is None or len(ids) <= chunk_items:
        return [ids]
    return [ids[begin : begin + chunk_items] for begin in range(0, len(ids), chunk_items)]


def scoring_chunks(
    benchmark: str, config: ScoringConfig, *, db: DbRef = None, chunk_items: int | None = None
) -> list[list[str]]:
    """The item ids of each chunk of a benchmark's scoring: the items `score_benchmark` would score, in its order."""
    with connect_read_only(db) as con:
        items = load_items(con, benchmark, config.splits, config.limit)
    return split_ids([item.item_id for item in items], chunk_items)


def merge_reports(reports: Sequence[ScoreReport]) -> ScoreReport:
    """The report of one run made of chunk reports sharing its run id: counts and model time summed, the
    span from the first start to the last finish, accuracy weighted by each chunk's items per split."""
    first = reports[0]
    totals = ("n_items", "n_requests", "n_cached", "n_truncated", "forward_tokens", "compute_seconds", "load_seconds")
    merged = replace(
        first,
        **{name: sum(getattr(r, name) for r in reports) for name in totals},
        started_at=min(r.started_at for r in reports),
        finished_at=max(r.finished_at for r in reports),
        dtype=next((r.dtype for r in reports if r.n_cached < r.n_requests), first.dtype),
    )
    # Chunks may run side by side on several workers: the run's wall time is its span, not the sum.
    merged.seconds = (
        datetime.fromisoformat(merged.finished_at) - datetime.fromisoformat(merged.started_at)
    ).total_seconds()
    accuracy: dict[str, dict[str, float]] = {}
    for report in reports:
        for split, values in report.accuracy.items():
            total = accuracy.setdefault(split, {"acc": 0.0, "acc_norm": 0.0, "n": 0})
            for key in ("acc", "acc_norm"):
                total[key] += values[key] * values["n"]
            total["n"] += values["n"]
    merged.accuracy = {
        split: {"acc": v["acc"] / v["n"], "acc_norm": v["acc_norm"] / v["n"], "n": v["n"]}
        for split, v in accuracy.items()
    }
    return merged
