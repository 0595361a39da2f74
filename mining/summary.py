"""What a mining run did, in the spirit of the statistics `mine_hard_negatives` prints: counts per
tier and origin, what each filter removed, cache hits, score statistics, and the quality report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from mining.candidates import CandidateSet
from mining.grading import MARGIN_COLUMN
from mining.quality import quality_report
from mining.twins import QuestionGroups
from warehouse.items import Item


@dataclass
class MiningSummary:
    """A run's honest account, stored as JSON in `mining_runs.summary`."""

    run_id: str
    benchmark: str
    config_hash: str
    items: int = 0
    items_without_negatives: int = 0
    negatives: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)
    by_origin: dict[str, int] = field(default_factory=dict)
    by_origin_and_tier: dict[str, dict[str, int]] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    verifier: dict[str, int] = field(default_factory=dict)  # rule -> mined candidates it suspected (tier unverified)
    embeddings: dict[str, int] = field(default_factory=dict)  # cached / computed
    logliks: dict[str, int] = field(default_factory=dict)  # cached / computed
    candidates_from: str | None = None  # run that found the candidates, when this run reused them unchanged
    statistics: dict[str, dict[str, float]] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)  # `mining.quality.QualityReport`
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stats(values: pl.Series) -> dict[str, float]:
    if values.is_empty():
        return {}
    return {
        "mean": round(float(values.mean()), 4),
        "median": round(float(values.median()), 4),
        "std": round(float(values.std() or 0.0), 4),
        "min": round(float(values.min()), 4),
        "max": round(float(values.max()), 4),
    }


def summarize(
    summary: MiningSummary,
    items: list[Item],
    candidates: CandidateSet,
    graded: pl.DataFrame,
    groups: QuestionGroups | None = None,
    measure: str = "pmi",
) -> None:
    """Fill the counts, score statistics and quality report of a run."""
    summary.items = len(items)
    with_negatives = set(graded["item_id"].to_list())
    summary.items_without_negatives = sum(1 for i in items if i.item_id not in with_negatives)
    summary.negatives = graded.height
    summary.by_tier = {t: int(n) for t, n in graded.group_by("tier").len().iter_rows()}
    summary.by_origin = {o: int(n) for o, n in graded.group_by("origin").len().iter_rows()}
    summary.by_origin_and_tier = {}
    for origin, tier, n in graded.group_by("origin", "tier").len().iter_rows():
        summary.by_origin_and_tier.setdefault(origin, {})[tier] = int(n)
    summary.removed = dict(candidates.removed)
    summary.statistics = {
        "gold_loglik": _stats(graded.unique("item_id")["gold_loglik"]),
        "negative_loglik": _stats(graded["loglik"]),
        "margin_per_token": _stats(graded["margin_per_token"]),
        "margin_pmi": _stats(graded["margin_pmi"].drop_nulls()),
        "sim_gold": _stats(graded["sim_gold"]),
        **{
            f"{MARGIN_COLUMN[measure]}[{tier}]": _stats(part[MARGIN_COLUMN[measure]].drop_nulls())
            for (tier,), part in graded.group_by("tier")
        },
        **{f"sim_gold[{tier}]": _stats(part["sim_gold"]) for (tier,), part in graded.group_by("tier")},
    }
    groups = groups or QuestionGroups()
    summary.quality = quality_report(
        graded, items, summary.removed, groups.known_true, groups.members, measure
    ).as_dict()
