"""One typed, hashable configuration of a mining run; its hash is the run's provenance and the
Dagster code version of the mining assets."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from likra.models import DEFAULT_MODEL
from mining.embeddings import DEFAULT_EMBEDDER
from mining.grading import TierRules
from mining.search import IndexConfig
from warehouse.errors import WarehouseError


class MiningConfigError(WarehouseError):
    """A mining configuration with an unknown key, a bad value or contradictory thresholds."""


class MiningConfig(BaseModel):
    """What candidates are mined from, how they are filtered, scored and graded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(default=DEFAULT_EMBEDDER, description="sentence-transformers model id or folder")
    scope: Literal["benchmark", "all"] = Field(default="benchmark",
                                               description="mine answers of the same benchmark or of all benchmarks")
    query: Literal["gold", "question"] = Field(default="gold", description="search by gold-answer or question embedding")
    k: int = Field(default=10, ge=0, description="cross-question candidates per item")
    lexical_k: int = Field(default=0, ge=0, description="BM25 candidates per item (0: off)")
    max_sim_to_gold: float = Field(default=0.9, gt=0, le=1,
                                   description="mined candidates this similar to the gold answer are paraphrases: dropped")
    index: IndexConfig = Field(default_factory=IndexConfig)
    scorer_model: str = Field(default=DEFAULT_MODEL, description="causal LM that grades plausibility")
    dtype: str = Field(default="auto", description="dtype of the scorer model")
    tiers: TierRules = Field(default_factory=TierRules)

    def digest(self) -> str:
        """Stable hash of every setting (16 hex digits)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def mining_config(**values) -> MiningConfig:
    """Validate settings, naming the key that is wrong."""
    try:
        return MiningConfig(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "config"
            problems.append(f"{key}: {error['msg']}")
        raise MiningConfigError("mining configuration: " + "; ".join(problems)) from exc
