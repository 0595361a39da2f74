"""The settings of a Likra experiment, stated once (the `likra experiment` options and the Dagster config are
generated from them): the runs it trains, with which seeds and policies, and what it sweeps."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, Field

from likra.config import POLICIES, LikraConfigError, Policy, TrainConfig
from warehouse.validation import SETTINGS, validated

EXPERIMENTS = ("learning-curve", "gain", "negative-types", "weight-sweep", "likelihood-shift", "dpo-baseline")
DEFAULT_POLICIES: list[Policy] = [
    "random",
    "other_question",
    "other_benchmark",
    "most_plausible",
    "least_plausible",
    "mined_near_miss",
    "mined_far",
]


class ExperimentConfig(BaseModel):
    """What an experiment trains and sweeps; `train` holds every setting of its Likra runs."""

    model_config = SETTINGS

    train: TrainConfig = Field(default_factory=TrainConfig, description="Settings of the Likra runs it trains.")
    seeds: list[int] = Field(default=[42], min_length=1, description="Seeds; plots show the spread across them.")
    policies: list[Policy] = Field(
        default=DEFAULT_POLICIES, min_length=1, description="negative-types: the policies compared at equal N."
    )
    weights: list[float] = Field(
        default=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5],
        min_length=1,
        description="weight-sweep: the negative-head weights w.",
    )
    paper_window: list[int] = Field(
        default=[64, 128],
        min_length=2,
        max_length=2,
        description="gain: the window the paper reads its critical-phase gain in "
        "(PAPER.md §5.4: 64 -> 128 examples), besides the whole curve.",
    )
    dpo_beta: float = Field(default=0.1, gt=0, description="dpo-baseline: DPO's beta.")
    dpo_lr: float | None = Field(default=None, gt=0, description="dpo-baseline: learning rate (default: train.lr).")

    def digest(self) -> str:
        """Stable hash of every setting (12 hex digits)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


def experiment_config(**values) -> ExperimentConfig:
    """Validate settings, naming the key that is wrong."""
    return validated(ExperimentConfig, values, "experiment configuration", LikraConfigError)


__all__ = ["DEFAULT_POLICIES", "EXPERIMENTS", "POLICIES", "ExperimentConfig", "experiment_config"]
