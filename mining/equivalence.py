"""When two answer texts say the same thing in another surface form: articles and framing prepositions,
inflection, numbers written differently. Rules that hold for any pair of answers, with the name of the
rule that matched, so a run can count what each one removed.

* same_after_articles: equal once articles ("a", "an", "the") and a leading framing preposition
  ("by convection", "in the ocean") are dropped, and trailing punctuation with them;
* same_number: equal once numbers are written as digits ("two" / "2", "1,000" / "one thousand") and
  the unit after a number by its name ("5 cm" / "5 centimeters", via pint);
* same_inflection: equal word for word up to number or tense ("freezes" / "freeze", "a tree" /
  "trees", "mice" / "mouse"), by lemminflect's lexicon. Only plural, present and past forms count:
  "-ing" and participle forms often name another thing ("weathering" is not "weather").

Numbers are compared exactly ("1,000 grams" and "1,025 grams" differ), and contrastive prepositions
("without water", "above the clouds") are kept, because they change what the answer says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from warehouse.text import normalize

SAME_AFTER_ARTICLES, SAME_NUMBER, SAME_INFLECTION = "same_after_articles", "same_number", "same_inflection"
SURFACE_RULES = (SAME_AFTER_ARTICLES, SAME_NUMBER, SAME_INFLECTION)

ARTICLES = frozenset({"a", "an", "the"})
# Prepositions that only frame an answer ("by convection" answers "how?" as "convection" does).
# Contrastive ones ("without", "above", "against", "except") are not here: they change the meaning.
FRAMING_PREPOSITIONS = frozenset(
    {"as", "at", "by", "for", "from", "in", "into", "of", "on", "onto", "through", "to", "via", "with", "within"}
)
# Inflections that keep the meaning of an answer word: number (nouns), person and tense (verbs).
MEANING_KEEPING_TAGS = frozenset({"NN", "NNS", "VB", "VBP", "VBZ", "VBD"})

_NUMBER = re.compile(r"[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+\-−]?\.\d+")
_GLUED = re.compile(r"(?P<number>[+\-−]?\d+(?:\.\d+)?)(?P<unit>[^\d\s.,;:!?]+)")  # "5cm", "20mL", "50%"
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}"


@dataclass(frozen=True)
class AnswerForms:
    """The comparable forms of one answer text."""

    bare: tuple[str, ...]  # words without articles and a leading framing preposition; numbers kept as written
    numeric: tuple[str, ...]  # the same, numbers as canonical digits and units by name


def canonical_number(text: str) -> str | None:
    """'1,000' -> '1000', '0.50' -> '0.5', '−3' -> '-3'; None for something that is not a number."""
    try:
        value = Decimal(text.replace(",", "").replace("−", "-").lstrip("+"))
    except InvalidOperation:
        return None
    return format(value.normalize(), "f")


@lru_cache(maxsize=1)
def _units():
    import pint  # only texts with a number followed by a word need it

    return pint.UnitRegistry()


@lru_cache(maxsize=4096)
def unit_name(word: str) -> str | None:
    """The unit a word names after a number ('cm' -> 'centimeter', 'grams' -> 'gram'), else None."""
    if not word or word.isdigit():
        return None
    try:
        units = _units().parse_units(word)
    except Exception:  # noqa: BLE001 - for a word that is no unit pint raises lookup, parser, assertion or arithmetic errors
        return None
    name = str(units)
    return name if name and name != "dimensionless" else None


def _words_as_digits(text: str) -> str:
    from text_to_num import alpha2digit

    # threshold 0: isolated small numbers ("two") become digits too; both sides of a comparison get the same.
    return alpha2digit(text, "en", threshold=0)


def _tokens(text: str, numbers: bool) -> tuple[str, ...]:
    """Normalised words; number-like words kept whole ('1,000', '-5', '0.5'), canonical when `numbers`."""
    out: list[str] = []
    after_number = False
    for raw in text.split():
        word = raw.strip(_EDGE_PUNCTUATION)
        if _NUMBER.fullmatch(word):
            out.append(canonical_number(word) if numbers else word)
            after_number = True
            continue
        glued = _GLUED.fullmatch(word) if numbers else None
        if glued and unit_name(glued["unit"]):
            out += [canonical_number(glued["number"]), unit_name(glued["unit"])]
            after_number = False
            continue
        if numbers and after_number and unit_name(word):
            out.append(unit_name(word))
        else:
            out += normalize(word).split()
        after_number = False
    return tuple(out)


def _strip_framing(tokens: Iterable[str]) -> tuple[str, ...]:
    kept = tuple(t for t in tokens if t not in ARTICLES)
    return kept[1:] if len(kept) > 1 and kept[0] in FRAMING_PREPOSITIONS else kept


@lru_cache(maxsize=1 << 18)  # pool answers repeat across items and runs
def answer_forms(text: str) -> AnswerForms:
    """Bare and numeric forms of an answer text."""
    text = unicodedata.normalize("NFKC", text)
    bare = _strip_framing(_tokens(text, numbers=False))
    numeric = _strip_framing(_tokens(_words_as_digits(text), numbers=True))
    return AnswerForms(bare, numeric)


@lru_cache(maxsize=1 << 16)
def word_lemmas(word: str) -> frozenset[str]:
    """The word and every lemma it is a meaning-keeping inflection of ('freezes' -> {freezes, freeze})."""
    from lemminflect import getAllInflections, getAllLemmas

    found = {word}
    for upos, lemmas in getAllLemmas(word).items():
        for lemma in lemmas:
            inflections = getAllInflections(lemma, upos)
            if lemma == word or any(word in inflections.get(tag, ()) for tag in MEANING_KEEPING_TAGS):
                found.add(lemma)
    return frozenset(found)


def same_word(a: str, b: str) -> bool:
    """Equal, or inflections of one lemma (numbers only when equal)."""
    if a == b:
        return True
    if a[:1].isdigit() or b[:1].isdigit():
        return False
    return not word_lemmas(a).isdisjoint(word_lemmas(b))


def same_words(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Word for word the same up to inflection."""
    return len(a) == len(b) and all(same_word(x, y) for x, y in zip(a, b))


def surface_rule(candidate: str, true_answers: Iterable[str]) -> str | None:
    """The first rule under which `candidate` says the same as one of `true_answers`, else None."""
    mine = answer_forms(candidate)
    theirs = [answer_forms(t) for t in true_answers]
    if not mine.bare:
        return None
    if any(mine.bare == t.bare for t in theirs):
        return SAME_AFTER_ARTICLES
    if any(mine.numeric == t.numeric for t in theirs):
        return SAME_NUMBER
    if any(same_words(mine.numeric, t.numeric) for t in theirs):
        return SAME_INFLECTION
    return None
