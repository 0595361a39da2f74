"""The settings of a Likra run, stated once: the `likra train` options and the Dagster `likra` resource are
generated from them. Defaults follow the released code (PAPER.md §2-3)."""

from __future__ import annotations

import hashlib
import json
from typing import Literal, get_args

from pydantic import BaseModel, Field, field_validator

from likra.models import DEFAULT_MODEL, Dtype
from warehouse.errors import LikraError
from warehouse.validation import SETTINGS, validated

Policy = Literal[
    "first",
    "random",
    "most_plausible",
    "least_plausible",
    "mined_near_miss",
    "mined_far",
    "other_question",
    "other_benchmark",
]
POLICIES: tuple[str, ...] = get_args(Policy)


# Evaluation exemplars per benchmark, as the Open LLM Leaderboard (v1) runs lm-evaluation-harness and the
# paper evaluates (ARC 25-shot; HellaSwag 10-shot); benchmarks it does not list are scored 0-shot, as
# lm-eval's own task files do.
LEADERBOARD_FEWSHOT = {"arc_challenge": 25, "arc_easy": 25, "hellaswag": 10, "mmlu": 5, "winogrande": 5}
# The paper trains Llama-3.2-3B-Instruct at 1e-3 and the Mistral-7B models at 1e-4 (released Makefile).
SMALL_MODEL_PARAMETERS, SMALL_MODEL_LR, LARGE_MODEL_LR = 3_500_000_000, 1e-3, 1e-4


class LikraConfigError(LikraError):
    """Likra settings with an unknown key or a bad value."""


class LoraSettings(BaseModel):
    """The LoRA adapter of each head (peft's zero-initialised B, so an untrained head equals the base model)."""

    model_config = SETTINGS

    r: int = Field(default=8, ge=1, description="LoRA rank.")
    alpha: int = Field(default=8, ge=1, description="LoRA alpha (scale alpha / r).")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(
        default=["gate_proj", "up_proj", "down_proj"],
        description="Modules that get adapters (the released code: MLP projections).",
    )


class TrainConfig(BaseModel):
    """How a benchmark's training set is built, how both heads are trained, and how they are evaluated."""

    model_config = SETTINGS

    model: str = Field(default=DEFAULT_MODEL, description="Base model: hub id, local folder, or `smollm2` (offline).")
    dtype: Dtype = Field(default="auto", description="auto: fp32 on CPU, bf16 on CUDA.")
    policy: Policy = Field(default="random", description="How each question's negative is chosen.")
    sizes: list[int] | None = Field(
        default=None,
        min_length=1,
        description="Checkpoints when the examples seen reach these sizes; training stops "
        "at the largest (default: 8, 16, 32, ... and the end of the training data).",
    )
    seed: int = Field(default=42, description="Seeds the question order, random choices and the LoRA init.")
    lr: float | None = Field(
        default=None,
        gt=0,
        description="AdamW learning rate, constant, no warmup (default: by the base model's "
        "size as the paper trains: 1e-3 up to 3B parameters, 1e-4 above).",
    )
    batch_size: int = Field(default=8, ge=1, description="Examples per optimizer step (before accumulation).")
    grad_accum: int = Field(default=1, ge=1, description="Batches accumulated per optimizer step.")
    epochs: int = Field(default=1, ge=1, description="Passes over the training rows.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="The LoRA adapter of each head.")
    heads: Literal["both", "neg", "pos"] = Field(
        default="both", description="Train both heads, or only the negative (negbase) or only the positive head (sft)."
    )
    train_splits: list[str] | None = Field(
        default=None, description="Splits to train on (default: every split but the evaluation split)."
    )
    also_train_on: list[str] = Field(
        default=[],
        description="Other benchmarks whose items (every split) join the training "
        "pool, as the paper trains ARC-Challenge heads on ARC-Easy too.",
    )
    eval_split: str | None = Field(
        default=None,
        description="Split to evaluate on (default: test, else validation; a benchmark "
        "with one labelled split is split into a deterministic hold-out).",
    )
    holdout: float = Field(
        default=0.5, gt=0, lt=1, description="Share of a single labelled split held out for evaluation."
    )
    train_fewshot: int = Field(default=0, ge=0, description="Exemplars in each training row's context.")
    other_benchmark: str | None = Field(
        default=None,
        description="other_benchmark policy: the benchmark answers come from (default: any other ingested one).",
    )
    fewshot: int | None = Field(
        default=None,
        ge=0,
        description="Exemplars before each evaluation prompt, the first training questions "
        "of the run (default: the benchmark's Open LLM Leaderboard setting: ARC 25, "
        "HellaSwag 10, MMLU and WinoGrande 5, others 0).",
    )
    eval_limit: int | None = Field(default=None, ge=1, description="Evaluate only the first N evaluation items.")
    weights: list[float] = Field(
        default=[1.0], min_length=1, description="Negative-head weights w the run is evaluated at."
    )

    @field_validator("sizes")
    @classmethod
    def _positive_sizes(cls, sizes: list[int] | None) -> list[int] | None:
        if sizes is None:
            return None
        if any(size < 1 for size in sizes):
            raise ValueError(f"every size must be at least 1, got {sizes}")
        return sorted(set(sizes))

    def set_settings(self) -> dict:
        """The settings a training set depends on."""
        return self.model_dump(
            include={
                "policy",
                "seed",
                "train_splits",
                "also_train_on",
                "eval_split",
                "holdout",
                "train_fewshot",
                "other_benchmark",
            }
        )

    def eval_fewshot(self, benchmark: str) -> int:
        """Exemplars before each evaluation prompt: `fewshot`, else the benchmark's leaderboard setting."""
        return self.fewshot if self.fewshot is not None else LEADERBOARD_FEWSHOT.get(benchmark, 0)

    def learning_rate(self, n_parameters: int) -> float:
        """`lr`, else the paper's rate for a base model of this size (1e-3 up to 3B parameters, 1e-4 above)."""
        if self.lr is not None:
            return self.lr
        return SMALL_MODEL_LR if n_parameters <= SMALL_MODEL_PARAMETERS else LARGE_MODEL_LR

    def training_settings(self) -> dict:
        """The settings trained heads depend on (evaluation settings excluded)."""
        return self.model_dump(exclude={"fewshot", "eval_limit", "weights"})

    def digest(self) -> str:
        """Stable hash of the training settings (16 hex digits)."""
        text = json.dumps(self.training_settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_config(**values) -> TrainConfig:
    """Validate settings, naming the key that is wrong."""
    return validated(TrainConfig, values, "likra configuration", LikraConfigError)
