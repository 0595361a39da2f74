"""The quality report of a mining run: what the guard removed, which items have twin questions, the
false-negative rate where a question lists several true answers, and the top near misses per origin
to read. Stored in `mining_runs.summary` (key `quality`), shown by `likra mine` and in Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from mining.equivalence import surface_rule
from mining.grading import MARGIN_COLUMN, NEAR_MISS
from mining.labelled import load_labels, tier_precision
from warehouse.items import Item
from warehouse.text import norm_hash

SAMPLES_PER_ORIGIN = 5


@dataclass
class FalseNegatives:
    """Negatives that are a listed true answer of their question, on items that list several."""

    items: int = 0  # items whose question lists two or more true answers (their own or their twins')
    negatives: int = 0  # graded negatives of those items
    listed_true: int = 0  # of which a listed true answer after normalisation or in another surface form
    rate: float = 0.0
    examples: list[dict[str, str]] = field(default_factory=list)


@dataclass
class QualityReport:
    """What keeps a run's negatives honest, and a sample to read."""

    removed_by_guard: dict[str, int] = field(default_factory=dict)
    twin_groups: int = 0  # groups of twin questions that hold items of the benchmark
    items_with_twins: int = 0
    false_negatives: FalseNegatives = field(default_factory=FalseNegatives)
    top_near_misses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # origin -> most plausible first
    # Per tier and origin, the labelled rows among this run's negatives: shares wrong and wrong-and-plausible.
    labelled_precision: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def true_answers(items: Sequence[Item], known_true: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Item id -> every known-true answer: its own and its twins'."""
    return {i.item_id: tuple(i.choices[g] for g in i.true_choices) + known_true.get(i.item_id, ()) for i in items}


def false_negatives(
    graded: pl.DataFrame, items: Sequence[Item], known_true: dict[str, tuple[str, ...]]
) -> FalseNegatives:
    """Count negatives that repeat a listed true answer, where a question lists several."""
    truths = {
        item_id: texts
        for item_id, texts in true_answers(items, known_true).items()
        if len({norm_hash(t) for t in texts}) > 1
    }
    report = FalseNegatives(items=len(truths))
    rows = graded.filter(pl.col("item_id").is_in(list(truths))).select("item_id", "text", "norm_hash")
    report.negatives = rows.height
    for item_id, text, h in rows.iter_rows():
        if h in {norm_hash(t) for t in truths[item_id]} or surface_rule(text, truths[item_id]):
            report.listed_true += 1
            if len(report.examples) < SAMPLES_PER_ORIGIN:
                report.examples.append({"item_id": item_id, "negative": text})
    report.rate = round(report.listed_true / report.negatives, 4) if report.negatives else 0.0
    return report


def top_near_misses(graded: pl.DataFrame, items: Sequence[Item], measure: str) -> dict[str, list[dict[str, Any]]]:
    """Per origin, the near misses with the highest margin under the tier measure, with question and gold."""
    by_id = {i.item_id: i for i in items}
    column = MARGIN_COLUMN[measure]
    near = graded.filter(pl.col("tier") == NEAR_MISS).sort(column, descending=True, nulls_last=True)
    samples: dict[str, list[dict[str, Any]]] = {}
    for origin, part in near.group_by("origin", maintain_order=True):
        rows = []
        for item_id, text, margin, sim in (
            part.head(SAMPLES_PER_ORIGIN).select("item_id", "text", column, "sim_gold").iter_rows()
        ):
            item = by_id[item_id]
            rows.append(
                {
                    "item_id": item_id,
                    "question": item.question,
                    "gold": item.choices[item.gold],
                    "negative": text,
                    column: round(float(margin), 3),
                    "sim_gold": round(float(sim), 3),
                }
            )
        samples[origin[0]] = rows
    return dict(sorted(samples.items()))


def quality_report(
    graded: pl.DataFrame,
    items: Sequence[Item],
    removed: dict[str, int],
    known_true: dict[str, tuple[str, ...]],
    twin_members: dict[str, list[str]],
    measure: str,
) -> QualityReport:
    """The run's quality report (graded rows carry the candidate's `text`)."""
    mine = {i.item_id for i in items}
    groups = [members for members in twin_members.values() if mine.intersection(members)]
    return QualityReport(
        removed_by_guard=dict(removed),
        twin_groups=len(groups),
        items_with_twins=len(mine.intersection(m for members in groups for m in members)),
        false_negatives=false_negatives(graded, items, known_true),
        top_near_misses=top_near_misses(graded, items, measure),
        labelled_precision=tier_precision(graded, load_labels()),
    )
