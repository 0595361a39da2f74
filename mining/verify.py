"""The verifier: a mined candidate (another question's answer) is kept as a negative only when nothing says it
could be right. Plausibility grading prefers answers that fit the question, and the most plausible answers of
other questions are often right: the gold in other words, a broader or narrower form of it, another true
answer. Each rule names what it suspects; a candidate any enabled rule suspects goes to the tier
`unverified` (kept and queryable, never picked by a training policy), with the first rule's name in
`unverified_by`. The item's own distractors are wrong by the benchmark's key and are not verified.

  contains_true_answer   the candidate's content words are all among a known-true answer's, or the other way
                         round, up to inflection ("cells" / "ovary cells", "high energy" / "energy")
  gold_of_similar        the candidate is the gold answer of another question whose embedding is at least
                         `similar_question` close to this one's (the same question asked another way)
  near_gold              the candidate's embedding is at least `max_sim_gold` close to the gold answer's:
                         the closer a mined answer sits to the truth, the likelier it says the same
  closer_to_gold         the candidate is closer to the gold answer than to the nearest of the question's own
                         wrong options by at least `gold_gap` (cosine similarities): it sits with the truth,
                         not with the distractors
  too_plausible          the candidate's margin to the gold under the tier measure is above `max_margin`:
                         the model finds it more fitting for the question than the gold itself
  cross_encoder          a sentence-transformers CrossEncoder (NLI: entailment either way with a true answer
                         given the question; or a paraphrase model) scores it at least `cross_encoder_threshold`

Rules and thresholds were chosen on the `dev` part of the labelled picks in bench/data (README there);
`bench/near_miss_precision.py` reports precision and recall of each rule on the held-out part.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from pydantic import BaseModel, Field, model_validator

from mining.paraphrase import content_words, cross_encoder_same, related_words
from warehouse.items import Item
from warehouse.negatives import ORIGINS
from warehouse.text import norm_hash, short_text_hash
from warehouse.validation import SETTINGS

CONTAINS_TRUE, GOLD_OF_SIMILAR, NEAR_GOLD, CLOSER_TO_GOLD, TOO_PLAUSIBLE, CROSS_ENCODER = (
    "contains_true_answer",
    "gold_of_similar",
    "near_gold",
    "closer_to_gold",
    "too_plausible",
    "cross_encoder",
)
VERIFIER_RULES = (CONTAINS_TRUE, GOLD_OF_SIMILAR, NEAR_GOLD, CLOSER_TO_GOLD, TOO_PLAUSIBLE, CROSS_ENCODER)
OWN_DISTRACTOR = ORIGINS[0]
# Words that carry no content of an answer on their own (articles and framing prepositions are already gone).
FUNCTION_WORDS = frozenset(
    {
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "it",
        "its",
        "their",
        "they",
        "this",
        "that",
        "than",
        "more",
        "most",
        "some",
        "all",
        "each",
        "only",
    }
)


class VerifierConfig(BaseModel):
    """Which rules may send a mined candidate to `unverified`, and their thresholds."""

    model_config = SETTINGS

    enabled: bool = Field(default=True, description="Verify mined candidates (off: every candidate keeps its tier).")
    containment: bool = Field(
        default=True, description="contains_true_answer: content words contained either way in a known-true answer's."
    )
    similar_question: float | None = Field(
        default=0.8,
        ge=-1,
        le=1,
        description="gold_of_similar: the candidate is the gold of a question at least "
        "this similar to this one (None: off).",
    )
    max_sim_gold: float | None = Field(
        default=0.55,
        ge=-1,
        le=1,
        description="near_gold: a candidate at least this similar to the gold answer "
        "(embedding cosine) is suspected (None: off).",
    )
    gold_gap: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="closer_to_gold: the candidate's similarity to the gold exceeds its "
        "similarity to the nearest own wrong option by at least this (None: off).",
    )
    max_margin: float | None = Field(
        default=None,
        description="too_plausible: a margin to the gold (tier measure) above this suspects the candidate (None: off).",
    )
    cross_encoder: str | None = Field(
        default=None,
        description="cross_encoder: a sentence-transformers CrossEncoder id or folder (NLI or paraphrase); None: off.",
    )
    cross_encoder_threshold: float = Field(
        default=0.5, ge=0, le=1, description="cross_encoder: a score at least this suspects the candidate."
    )

    @model_validator(mode="after")
    def _finite(self) -> VerifierConfig:
        for name in ("similar_question", "max_sim_gold", "gold_gap", "max_margin"):
            value = getattr(self, name)
            if value is not None and not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        return self


@dataclass
class Verification:
    """Per graded row, the first rule that suspects it (None: verified), and what each rule flagged."""

    unverified_by: list[str | None]
    flagged: Counter = field(default_factory=Counter)  # rule -> candidates it suspects (a row may count for several)


def answer_words(text: str) -> tuple[str, ...]:
    """The answer's content words: no article, framing preposition or function word."""
    return tuple(w for w in content_words(text) if w not in FUNCTION_WORDS)


def contained(a: Sequence[str], b: Sequence[str]) -> bool:
    """Every word of a has a related word (same lemma or stem) in b; both non-empty."""
    return bool(a) and bool(b) and all(any(related_words(x, y) for y in b) for x in a)


def contains_true_answer(candidate: str, true_answers: Sequence[str]) -> bool:
    """The candidate's content words lie within a true answer's, or a true answer's within the candidate's."""
    words = answer_words(candidate)
    return any(contained(words, other) or contained(other, words) for other in map(answer_words, true_answers))


def _truths(item: Item, known_true: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(item.choices[g] for g in item.true_choices) + known_true.get(item.item_id, ())


def _cross_encoder_suspects(
    rows: list[tuple],
    mined: list[int],
    by_id: dict[str, Item],
    known_true: dict[str, tuple[str, ...]],
    config: VerifierConfig,
) -> np.ndarray:
    """Per mined row, whether the configured cross-encoder pairs it with a true answer (all False when off)."""
    suspected = np.zeros(len(mined), dtype=bool)
    if not config.cross_encoder or not mined:
        return suspected
    pairs, owner = [], []
    for position, r in enumerate(mined):
        for truth in _truths(by_id[rows[r][0]], known_true):
            pairs.append((rows[r][1], truth))
            owner.append(position)
    same = cross_encoder_same(config.cross_encoder, pairs, config.cross_encoder_threshold)
    np.logical_or.at(suspected, np.asarray(owner, dtype=np.int64), same)
    return suspected


def _unit_rows(vectors: dict[str, np.ndarray], texts: Sequence[str], dim: int) -> np.ndarray:
    found = [vectors[short_text_hash(t)] for t in texts if short_text_hash(t) in vectors]
    return np.stack(found) if found else np.empty((0, dim), dtype=np.float32)


def verify(
    graded: pl.DataFrame,
    items: Sequence[Item],
    known_true: dict[str, tuple[str, ...]],
    vectors: dict[str, np.ndarray],
    config: VerifierConfig,
    margin: str = "margin_pmi",
) -> Verification:
    """Run the enabled rules over the mined rows of `graded` (which carry `text`, `origin`, `sim_gold`, and the
    tier measure's `margin` column for too_plausible)."""
    rows = graded.select("item_id", "text", "origin", "sim_gold").rows()
    margins = graded[margin].to_list() if config.max_margin is not None and margin in graded.columns else None
    found: list[str | None] = [None] * len(rows)
    flagged: Counter = Counter()
    if not config.enabled or not rows:
        return Verification(found, flagged)
    by_id = {item.item_id: item for item in items}
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    golds_of: dict[str, list[str]] = {}  # normalised answer -> items it is a gold answer of
    for item in items:
        for g in item.true_choices:
            golds_of.setdefault(norm_hash(item.choices[g]), []).append(item.item_id)
    question = {i.item_id: vectors.get(short_text_hash(i.question)) for i in items}
    mined = [r for r, (_, _, origin, _) in enumerate(rows) if origin != OWN_DISTRACTOR]
    suspected = _cross_encoder_suspects(rows, mined, by_id, known_true, config)
    for position, r in enumerate(mined):
        item_id, text, _, sim_gold = rows[r]
        item = by_id[item_id]
        truths = _truths(item, known_true)
        hits = []
        if config.containment and contains_true_answer(text, truths):
            hits.append(CONTAINS_TRUE)
        if config.similar_question is not None and question.get(item_id) is not None:
            others = [j for j in golds_of.get(norm_hash(text), ()) if j != item_id and question.get(j) is not None]
            if others and max(float(question[j] @ question[item_id]) for j in others) >= config.similar_question:
                hits.append(GOLD_OF_SIMILAR)
        if config.max_sim_gold is not None and sim_gold >= config.max_sim_gold:
            hits.append(NEAR_GOLD)
        if config.gold_gap is not None and short_text_hash(text) in vectors:
            wrong = _unit_rows(
                vectors, [item.choices[c] for c in range(len(item.choices)) if c not in item.true_choices], dim
            )
            nearest = float((wrong @ vectors[short_text_hash(text)]).max()) if len(wrong) else -1.0
            if sim_gold - nearest >= config.gold_gap:
                hits.append(CLOSER_TO_GOLD)
        if margins is not None and margins[r] is not None and margins[r] > config.max_margin:
            hits.append(TOO_PLAUSIBLE)
        if suspected[position]:
            hits.append(CROSS_ENCODER)
        flagged.update(hits)
        found[r] = hits[0] if hits else None
    return Verification(found, flagged)
