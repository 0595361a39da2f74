"""The answer-equivalence guard in front of grading: a mined candidate that is one of its item's
known-true answers (its own true answers and those of its twin questions) in another form is not a
negative. Each rule counts what it removed, under the names the run summary reports:

  equals_gold / twin_true_answer   the same text after normalisation (case, punctuation, whitespace)
  too_similar_to_gold              cosine similarity to the gold answer at least `max_sim_to_gold`
  same_after_articles, same_number, same_inflection   other surface forms (`mining.equivalence`)
  paraphrase_model                 a paraphrase, by the configured model check (`mining.paraphrase`)

The item's own distractors were written as wrong answers by the benchmark's authors: only a twin's
true answer (the same text) removes one; surface and paraphrase rules apply to mined candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from mining.equivalence import surface_rule
from mining.paraphrase import cross_encoder_same, embedding_lexical_same
from warehouse.validation import SETTINGS

EQUALS_GOLD, TWIN_TRUE_ANSWER, TOO_SIMILAR, PARAPHRASE_MODEL = (
    "equals_gold",
    "twin_true_answer",
    "too_similar_to_gold",
    "paraphrase_model",
)


class GuardConfig(BaseModel):
    """Which rules keep true answers in other forms out of the mined negatives."""

    model_config = SETTINGS

    surface: bool = Field(
        default=True,
        description="Drop mined candidates that are a known-true answer up to "
        "articles, framing prepositions, inflection, or numbers and units written differently.",
    )
    paraphrase: Literal["off", "embedding_lexical", "cross_encoder"] = Field(
        default="embedding_lexical",
        description="Model check for paraphrases of a known-true answer: embeddings "
        "and words in both directions (offline), a sentence-transformers CrossEncoder, or off.",
    )
    paraphrase_min_sim: float = Field(
        default=0.75,
        ge=-1,
        le=1,
        description="embedding_lexical: a paraphrase is at least this similar and shares its words with the true "
        "answer.",
    )
    cross_encoder: str | None = Field(
        default=None,
        description="cross_encoder: a sentence-transformers CrossEncoder id or folder (NLI or paraphrase).",
    )
    cross_encoder_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="cross_encoder: entailment both ways (NLI) or paraphrase score at least this.",
    )

    @model_validator(mode="after")
    def _named_model(self) -> GuardConfig:
        if self.paraphrase == "cross_encoder" and not self.cross_encoder:
            raise ValueError(
                "paraphrase 'cross_encoder' needs a model: set cross_encoder to a CrossEncoder id or folder"
            )
        return self


@dataclass
class Guard:
    """The known-true answers of each item (by row) and the rules that recognise them in other forms."""

    config: GuardConfig
    true_texts: Sequence[tuple[str, ...]]
    true_vectors: Sequence[np.ndarray]  # (answers, dim) per item row, L2-normalised
    false_vectors: Sequence[np.ndarray]  # the item's own wrong answers, (answers, dim) per row
    questions: Sequence[str] = ()  # the item's question per row: a paraphrase may restate it

    @property
    def active(self) -> bool:
        """Whether any rule runs while candidates are chosen."""
        return self.config.surface or self.config.paraphrase == "embedding_lexical"

    def rule(self, row: int, text: str, vector: np.ndarray) -> str | None:
        """The rule under which a mined candidate of the item at `row` is a known-true answer, else None."""
        if self.config.surface and (found := surface_rule(text, self.true_texts[row])):
            return found
        if self.config.paraphrase == "embedding_lexical" and embedding_lexical_same(
            text,
            vector,
            self.true_texts[row],
            self.true_vectors[row],
            self.config.paraphrase_min_sim,
            self.false_vectors[row],
            self.questions[row] if self.questions else "",
        ):
            return PARAPHRASE_MODEL
        return None

    def cross_encoder_paraphrases(self, rows: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """Per chosen candidate, whether the configured cross-encoder finds it a paraphrase of a true answer."""
        if self.config.paraphrase != "cross_encoder" or not len(rows):
            return np.zeros(len(rows), dtype=bool)
        pairs, owner = [], []
        for index, (row, text) in enumerate(zip(rows, texts)):
            for truth in self.true_texts[row]:
                pairs.append((text, truth))
                owner.append(index)
        same = cross_encoder_same(self.config.cross_encoder, pairs, self.config.cross_encoder_threshold)
        out = np.zeros(len(rows), dtype=bool)
        np.logical_or.at(out, np.asarray(owner, dtype=np.int64), same)
        return out
