"""What a mining run shows its user, in the CLI and in the Dagster UI alike: counts per origin and tier,
score statistics, a histogram of similarity and plausibility by tier, and the quality measures the
asset checks read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from likra.rendering import figure_png, subplots
from mining.grading import MARGIN_COLUMN, MARGIN_UNITS
from mining.summary import MiningSummary
from warehouse.items import Item
from warehouse.negatives import TIERS
from warehouse.text import norm_hash

SCORE_COLUMNS = ("loglik", "loglik_per_token", "margin", "margin_per_token", "sim_gold", "sim_question", "margin_pmi")


def tier_table(summary: MiningSummary) -> pl.DataFrame:
    """Negatives per origin and tier, with a total per origin."""
    return pl.DataFrame(
        [
            {"origin": origin, **{tier: counts.get(tier, 0) for tier in TIERS}, "total": sum(counts.values())}
            for origin, counts in sorted(summary.by_origin_and_tier.items())
        ],
        schema={"origin": pl.String, **{tier: pl.Int64 for tier in TIERS}, "total": pl.Int64},
    )


def guard_table(summary: MiningSummary) -> pl.DataFrame:
    """Candidates each false-negative filter and guard rule removed, most first."""
    removed = summary.quality.get("removed_by_guard", summary.removed)
    return pl.DataFrame(
        [{"rule": rule, "removed": n} for rule, n in sorted(removed.items(), key=lambda kv: -kv[1])],
        schema={"rule": pl.String, "removed": pl.Int64},
    )


def near_miss_table(summary: MiningSummary) -> pl.DataFrame:
    """The sampled top near misses of every origin, one row each."""
    rows = [
        {"origin": origin, **{k: v for k, v in sample.items() if k != "item_id"}}
        for origin, samples in summary.quality.get("top_near_misses", {}).items()
        for sample in samples
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={"origin": pl.String})


def quality_line(summary: MiningSummary) -> str:
    """Twin questions and the false-negative rate, in one sentence."""
    quality = summary.quality
    fn = quality.get("false_negatives", {})
    line = (
        f"twin questions: {quality.get('twin_groups', 0)} groups holding {quality.get('items_with_twins', 0)} "
        "of its items"
    )
    if fn.get("items"):
        line += (
            f"; false negatives (a listed true answer, on {fn['items']} items listing several): "
            f"{fn['listed_true']} of {fn['negatives']} ({fn['rate']:.1%})"
        )
    return line


def statistics_table(summary: MiningSummary) -> pl.DataFrame:
    """One row per score statistic of the run (mean, median, std, min, max)."""
    return pl.DataFrame([{"statistic": name, **values} for name, values in summary.statistics.items()])


def histogram_png(graded: pl.DataFrame, measure: str = "pmi") -> bytes:
    """A PNG: similarity to the gold answer and the plausibility margin the tiers use, one histogram per tier."""
    figure, axes = subplots(1, 2, figsize=(10, 3.5))
    for tier, colour in (("far", "#bbbbbb"), ("plausible", "#f0a030"), ("near_miss", "#d03030")):
        part = graded.filter(pl.col("tier") == tier)
        if part.height:
            axes[0].hist(part["sim_gold"].to_numpy(), bins=30, alpha=0.6, label=tier, color=colour)
            axes[1].hist(
                part[MARGIN_COLUMN[measure]].drop_nulls().to_numpy(), bins=30, alpha=0.6, label=tier, color=colour
            )
    axes[0].set_xlabel("cosine similarity to the gold answer")
    axes[1].set_xlabel(f"plausibility margin to the gold answer ({MARGIN_UNITS[measure]})")
    axes[0].legend()
    return figure_png(figure, dpi=80)


@dataclass(frozen=True)
class NegativesQuality:
    """Counts that would make the graded negatives unsafe to train on, or thin."""

    n_items: int
    equal_to_gold: int  # negatives equal to a known-true answer of their item (its own or a twin's) after normalisation
    null_scores: int  # missing or NaN similarity and plausibility scores
    items_without: int  # items left with no negative

    def lacking_share(self) -> float:
        """Share of items without any negative."""
        return self.items_without / self.n_items if self.n_items else 0.0


def negatives_quality(
    graded: pl.DataFrame, items: Sequence[Item], known_true: dict[str, tuple[str, ...]] | None = None
) -> NegativesQuality:
    """Measure a benchmark's graded negatives against its items and the true answers of their twins."""
    golds = {(i.item_id, norm_hash(i.choices[g])) for i in items for g in i.true_choices}
    golds |= {(item_id, norm_hash(t)) for item_id, texts in (known_true or {}).items() for t in texts}
    equal = sum(1 for key in graded.select("item_id", "norm_hash").iter_rows() if key in golds)
    nulls = graded.select(pl.sum_horizontal(pl.col(c).is_null() | pl.col(c).is_nan() for c in SCORE_COLUMNS).sum())
    return NegativesQuality(len(items), equal, int(nulls.item() or 0), len(items) - graded["item_id"].n_unique())


def precision_table(summary: MiningSummary) -> pl.DataFrame:
    """Per tier and origin, the run's labelled negatives: share wrong and share real near misses, with 95% intervals."""
    rows = [
        {
            "tier": r["tier"],
            "origin": r["origin"],
            "labelled": r["labelled"],
            "wrong": f"{r['wrong']['share']:.0%} [{r['wrong']['low']:.0%}, {r['wrong']['high']:.0%}]",
            "wrong_plausible": f"{r['wrong_plausible']['share']:.0%} [{r['wrong_plausible']['low']:.0%}, "
            f"{r['wrong_plausible']['high']:.0%}]",
        }
        for r in summary.quality.get("labelled_precision", [])
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={"tier": pl.String})


def verifier_line(summary: MiningSummary) -> str:
    """How many mined candidates the verifier sent to `unverified`, by the rules that suspected them."""
    moved = summary.by_tier.get("unverified", 0)
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(summary.verifier.items())) or "none"
    return f"verifier: {moved} mined candidates unverified (suspected by rule, a candidate may count twice: {rules})"
