"""Answer and question texts: compared the way a reader would, and named by content hashes in the caches."""

from __future__ import annotations

import hashlib
import unicodedata
from functools import lru_cache


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation removed, whitespace collapsed: 'The Liver.' -> 'the liver'."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(kept.split())


def text_hash(text: str) -> str:
    """sha256 hex digest of the exact text: the keys of contexts and continuations in `loglik_cache`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def short_text_hash(text: str) -> str:
    """The first 32 hex digits of `text_hash`: the keys of `text_embeddings` and of normalised answers."""
    return text_hash(text)[:32]


@lru_cache(maxsize=1 << 18)  # answers repeat across items and stages
def norm_hash(text: str) -> str:
    """Hash of the normalised text: equal for texts a reader would call the same answer."""
    return short_text_hash(normalize(text))
