"""The settings of a scoring run, stated once: the CLI options and the Dagster run config are built from them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from likra.models import DEFAULT_MODEL, Dtype
from likra.scoring.tokens import ScoringError
from warehouse.validation import SETTINGS, validated


class ScoringConfig(BaseModel):
    """Which model scores a benchmark's items, and with what context."""

    model_config = SETTINGS

    model: str = Field(
        default=DEFAULT_MODEL,
        description="Hub model id, local folder, or an offline alias: `smollm2` "
        "(SmolLM2-135M-Instruct), `gemma3` (Gemma 3 270M).",
    )
    dtype: Dtype = Field(default="auto", description="auto: fp32 on CPU, bf16 on CUDA.")
    fewshot: int = Field(
        default=0, ge=0, description="Exemplars before each prompt: the first K items of the few-shot split."
    )
    fewshot_split: str | None = Field(
        default=None,
        description="Split the exemplars come from (default: train, dev, validation, else the scored one).",
    )
    splits: list[str] | None = Field(default=None, description="Only these splits (default: every ingested split).")
    limit: int | None = Field(default=None, ge=1, description="At most N items per split.")


def scoring_settings(config: ScoringConfig | None = None, **overrides) -> ScoringConfig:
    """`config` (default: the defaults) with some fields replaced, validated; a bad value is named."""
    return validated(
        ScoringConfig, {**(config or ScoringConfig()).model_dump(), **overrides}, "scoring settings", ScoringError
    )
