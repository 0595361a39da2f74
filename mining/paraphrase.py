"""Paraphrases of a true answer, judged by a model: the offline default compares embeddings and words in
both directions; a sentence-transformers `CrossEncoder` (an NLI or paraphrase model the user names) is
the stronger option.

* embedding_lexical: cosine similarity at least `paraphrase_min_sim`, closer to the true answer than
  to any of the item's own (human-written) wrong answers, and the content words of the shorter answer
  found in the longer one in the same order (up to inflection or a shared Snowball stem: "frictional"
  / "friction"). The longer one may add words of the question (restating it: "the water evaporated"),
  and one word more where the shorter has two or more content words ("plastic soda bottles" for "a
  plastic bottle"); none may be a negation or a number. A one-word answer with a modifier names
  something else ("Arctic Ocean" / "ocean", "low density" / "density"), and so does a reordering
  ("tortoises are faster than hares").
* cross_encoder: an NLI model must find entailment in both directions with probability at least the
  threshold; a one-output paraphrase (or STS) model must score the pair at least the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from mining.equivalence import ARTICLES, FRAMING_PREPOSITIONS, answer_forms, same_word
from mining.errors import EmbedderLoadError

# Words whose presence on one side only reverses what an answer says.
NEGATIONS = frozenset({"not", "no", "never", "without", "none", "nor", "neither", "nothing", "t"})  # "don't" -> "don t"
# Words a paraphrase may add that are not in the question: one qualifier of a multi-word answer.
MAX_NEW_WORDS = 1


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def related_words(a: str, b: str) -> bool:
    """The same word up to inflection or a shared Snowball stem (numbers only when equal)."""
    return same_word(a, b) or (not a[:1].isdigit() and not b[:1].isdigit() and _stem(a) == _stem(b))


def content_words(text: str) -> tuple[str, ...]:
    """Words of an answer without articles and framing prepositions, numbers canonical."""
    return tuple(w for w in answer_forms(text).numeric if w not in ARTICLES and w not in FRAMING_PREPOSITIONS)


def one_contains_the_other(a: str, b: str, question: str = "") -> bool:
    """The content words of the shorter answer appear in the longer one in order; what it adds is words
    of the question and at most `MAX_NEW_WORDS` other (for a shorter answer of two or more words), with
    no negation and no number."""
    small, large = sorted((content_words(a), content_words(b)), key=len)
    if not small:
        return False
    added, position = [], 0
    for word in small:  # greedy subsequence match: each word of the shorter one, in order
        while position < len(large) and not related_words(word, large[position]):
            added.append(large[position])
            position += 1
        if position == len(large):
            return False
        position += 1
    added += large[position:]
    if any(w in NEGATIONS or w[:1].isdigit() for w in added):
        return False
    asked = content_words(question) if question else ()
    new = [w for w in added if not any(related_words(w, q) for q in asked)]
    return len(new) <= (MAX_NEW_WORDS if len(small) > 1 else 0)


def embedding_lexical_same(
    text: str,
    vector: np.ndarray,
    true_texts: Sequence[str],
    true_vectors: np.ndarray,
    min_sim: float,
    false_vectors: np.ndarray | None = None,
    question: str = "",
) -> bool:
    """Whether `text` paraphrases one of the true answers of `question` (embeddings L2-normalised);
    `false_vectors` are the item's own wrong answers, which a paraphrase of a true answer must be farther from."""
    if not len(true_texts):
        return False
    sims = true_vectors @ vector
    nearest_false = float((false_vectors @ vector).max()) if false_vectors is not None and len(false_vectors) else -1.0
    return any(
        s >= min_sim and s > nearest_false and one_contains_the_other(text, t, question)
        for t, s in zip(true_texts, sims)
    )


@lru_cache(maxsize=2)
def _load_cross_encoder(spec: str):
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(spec)
    except (OSError, ValueError) as exc:
        raise EmbedderLoadError(f"cannot load cross-encoder {spec!r}: {exc}") from exc


def cross_encoder_same(spec: str, pairs: Sequence[tuple[str, str]], threshold: float) -> np.ndarray:
    """Per (candidate, true answer) pair, whether the cross-encoder judges them to say the same thing."""
    if not pairs:
        return np.zeros(0, dtype=bool)
    model = _load_cross_encoder(spec)
    both = [*pairs, *((b, a) for a, b in pairs)]
    labels = {str(v).lower(): int(k) for k, v in (getattr(model.config, "id2label", None) or {}).items()}
    if "entailment" in labels and model.num_labels > 1:  # NLI: entailment both ways
        probs = model.predict(both, apply_softmax=True, convert_to_numpy=True, show_progress_bar=False)
        entail = np.asarray(probs)[:, labels["entailment"]]
    else:  # a paraphrase or STS model: one score per pair, made a probability where it is a logit
        scores = np.asarray(model.predict(both, convert_to_numpy=True, show_progress_bar=False), dtype=np.float64)
        if scores.ndim > 1:
            scores = scores[:, -1]
        entail = scores if ((scores >= 0) & (scores <= 1)).all() else 1 / (1 + np.exp(-scores))
    forward, backward = entail[: len(pairs)], entail[len(pairs) :]
    return (forward >= threshold) & (backward >= threshold)
