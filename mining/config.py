"""One typed, hashable configuration of a mining run; its hash is the run's provenance and the
Dagster code version of the mining assets."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field

from likra.models import DEFAULT_MODEL, Dtype
from mining.embeddings import DEFAULT_EMBEDDER
from mining.errors import MiningConfigError
from mining.grading import TierRules
from mining.guard import GuardConfig
from mining.search import IndexConfig
from mining.verify import VerifierConfig
from warehouse.validation import SETTINGS, validated


class MiningConfig(BaseModel):
    """What candidates are mined from, how they are filtered, scored and graded."""

    model_config = SETTINGS

    embedder: str = Field(default=DEFAULT_EMBEDDER, description="sentence-transformers model id or folder.")
    scope: Literal["benchmark", "all"] = Field(
        default="benchmark", description="Mine answers of the same benchmark or of every ingested benchmark."
    )
    query: Literal["gold", "question"] = Field(
        default="gold", description="Search neighbours of the gold answer's or of the question's embedding."
    )
    k: int = Field(default=10, ge=0, description="Cross-question candidates per item.")
    lexical_k: int = Field(default=0, ge=0, description="BM25 candidates per item (DuckDB full-text search; 0: off).")
    max_sim_to_gold: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Mined candidates at least this similar to the gold answer are paraphrases: dropped.",
    )
    guard: GuardConfig = Field(
        default_factory=GuardConfig,
        description="The answer-equivalence guard: true answers in other forms are not negatives.",
    )
    index: IndexConfig = Field(default_factory=IndexConfig, description="The FAISS index that searches the pool.")
    scorer_model: str = Field(default=DEFAULT_MODEL, description="Causal LM grading plausibility.")
    dtype: Dtype = Field(default="auto", description="dtype of the grading LM (auto: fp32 on CPU, bf16 on CUDA).")
    premise: str = Field(
        default="Answer:",
        description="Neutral context of the unconditional pass that PMI subtracts (empty: the "
        "model's prefix token, as lm-eval's acc_mutual_info).",
    )
    tiers: TierRules = Field(default_factory=TierRules, description="Rules that grade negatives into tiers.")
    verifier: VerifierConfig = Field(
        default_factory=VerifierConfig,
        description="Rules that send a mined candidate which could be a true answer to the tier `unverified`.",
    )

    def digest(self) -> str:
        """Stable hash of every setting (16 hex digits)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def mining_config(**values) -> MiningConfig:
    """Validate settings, naming the key that is wrong."""
    return validated(MiningConfig, values, "mining configuration", MiningConfigError)
