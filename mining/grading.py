"""Tiers of negatives: documented rules over plausibility and similarity; every raw score is kept,
so any other rule is one SQL query away.

* near_miss: the base model finds the negative about as plausible for the question as the gold
  answer (margin at least `near_miss_margin`, default -0.5) and it is on topic (cosine similarity
  to the gold answer at least `near_miss_min_sim`, default 0.2);
* plausible: not a near miss, but margin at least `plausible_margin` (default -1.5);
* far: everything else;
* unverified: a mined candidate (another question's answer) that the verifier (`mining.verify`) suspects
  of being a true answer in other words, whatever its margin: near_miss and plausible hold only
  candidates judged wrong.

The margin is, by default, the pointwise mutual information with the question (`pmi`:
log p(a | question) - log p(a | premise), summed nats, against the gold answer's), which discounts
answers that are likely anywhere ("Pluto", "1") and asks what is plausible for this question.
`measure` can make it the log-likelihood per token, per character (lm-eval's acc_norm
normalisation) or summed (which favours short answers). PMI was chosen by measurement
(`bench/plausibility_measures.py`): it ranks a question's own human-written distractors above
answers of random other questions far more often than the others, and its top near misses are
least often strings that top many questions at once.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel, Field, model_validator

from warehouse.negatives import TIERS
from warehouse.validation import SETTINGS

NEAR_MISS, PLAUSIBLE, FAR, UNVERIFIED = TIERS


class TierRules(BaseModel):
    """Thresholds of the tiers (margins relative to the gold answer, in the units of `measure`)."""

    model_config = SETTINGS

    measure: Literal["pmi", "per_token", "per_char", "sum"] = Field(
        default="pmi",
        description="How margins compare: PMI with the question (log p(a|question) - "
        "log p(a|premise), summed nats), or the log-likelihood per token, per character, or summed.",
    )
    near_miss_margin: float = Field(
        default=-0.5, description="near_miss: margin to the gold answer (in the measure's units) at least this."
    )
    near_miss_min_sim: float = Field(
        default=0.2, ge=-1, le=1, description="near_miss: similarity to the gold answer at least this."
    )
    plausible_margin: float = Field(default=-1.5, description="plausible: margin at least this.")

    @model_validator(mode="after")
    def _ordered(self) -> TierRules:
        if self.near_miss_margin < self.plausible_margin:
            raise ValueError(
                f"near_miss_margin ({self.near_miss_margin}) is below plausible_margin "
                f"({self.plausible_margin}): a near miss must be at least as plausible as a plausible negative"
            )
        return self


MARGIN_COLUMN = {"per_token": "margin_per_token", "per_char": "margin_per_char", "sum": "margin", "pmi": "margin_pmi"}
MARGIN_UNITS = {"per_token": "nats per token", "per_char": "nats per character", "sum": "nats", "pmi": "PMI, nats"}


def grade(frame: pl.DataFrame, rules: TierRules) -> pl.DataFrame:
    """Add `tier` to rows that carry the margins and sim_gold."""
    margin = pl.col(MARGIN_COLUMN[rules.measure])
    return frame.with_columns(
        pl.when((margin >= rules.near_miss_margin) & (pl.col("sim_gold") >= rules.near_miss_min_sim))
        .then(pl.lit(NEAR_MISS))
        .when(margin >= rules.plausible_margin)
        .then(pl.lit(PLAUSIBLE))
        .otherwise(pl.lit(FAR))
        .alias("tier")
    )


def mark_unverified(frame: pl.DataFrame, unverified_by: list[str | None]) -> pl.DataFrame:
    """Move the rows a verifier rule suspects (one entry per row, None: verified) to the tier `unverified`."""
    rule = pl.Series("unverified_by", unverified_by, dtype=pl.String)
    return frame.with_columns(rule).with_columns(
        pl.when(pl.col("unverified_by").is_not_null()).then(pl.lit(UNVERIFIED)).otherwise(pl.col("tier")).alias("tier")
    )
