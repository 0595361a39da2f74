"""Answer texts compared the way a reader would: case, whitespace and punctuation do not matter."""

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
    """Hex digest naming a text (exact) in the caches."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=1 << 18)  # answers repeat across items and stages
def norm_hash(text: str) -> str:
    """Hex digest of the normalised text: equal for texts a reader would call the same answer."""
    return text_hash(normalize(text))
