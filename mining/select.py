"""Choosing the mined candidates from nearest-neighbour hits, vectorised over a batch of queries.

Per query, walk its hits best first; skip the item's own answers (already candidates); drop the true
answers of its twin questions and hits too similar to the gold answer (paraphrases), and hits the
answer-equivalence guard blocked, each counted; keep the first k that remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Selection:
    """Kept hits of a batch and how many hits each filter removed before the k-th kept one."""

    keep: np.ndarray  # bool, same shape as the hits
    too_similar: int
    equals_gold: int
    twin_true: int = 0


def _member(ids: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """(queries, hits): whether each hit is among its query's row of `sets` (pool indices padded with -1)."""
    return (ids[:, :, None] == sets[:, None, :]).any(axis=2) & (ids >= 0)


def select_hits(
    ids: np.ndarray,
    sim_gold: np.ndarray,
    own: np.ndarray,
    golds: np.ndarray,
    reused_gold: np.ndarray,
    ceiling: float,
    k: int,
    known: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
) -> Selection:
    """ids, sim_gold: (queries, hits); own, golds: (queries, m) pool indices padded with -1; reused_gold: (queries, m)
    True where that gold answer also occurs in another item (so finding it is a real false negative avoided);
    known: (queries, n) pool indices of the true answers of each query's twin questions; blocked: (queries, hits)
    True where the guard found a hit to be a true answer in another form."""
    valid = ids >= 0
    is_own = _member(ids, own)
    gold_hit = ids[:, :, None] == golds[:, None, :]
    counted_gold = (gold_hit & reused_gold[:, None, :]).any(axis=2)
    is_known = _member(ids, known) & ~is_own if known is not None else np.zeros_like(valid)
    too_similar = valid & ~is_own & ~is_known & (sim_gold >= ceiling)
    accepted = valid & ~is_own & ~is_known & ~too_similar
    if blocked is not None:
        accepted &= ~blocked
    before = np.cumsum(accepted, axis=1) - accepted  # kept hits strictly before each position
    examined = before < k
    keep = accepted & examined
    return Selection(
        keep,
        int((too_similar & examined).sum()),
        int((counted_gold & examined).sum()),
        int((is_known & examined).sum()),
    )
