"""Choosing the mined candidates from nearest-neighbour hits, vectorised over a batch of queries.

Per query, walk its hits best first; skip the item's own answers (already candidates); drop hits
too similar to the gold answer (paraphrases, counted); keep the first k that remain.
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


def select_hits(ids: np.ndarray, sim_gold: np.ndarray, own: np.ndarray, golds: np.ndarray, reused_gold: np.ndarray,
                ceiling: float, k: int) -> Selection:
    """ids, sim_gold: (queries, hits); own, golds: (queries, m) pool indices padded with -1; reused_gold: (queries, m)
    True where that gold answer also occurs in another item (so finding it is a real false negative avoided)."""
    valid = ids >= 0
    is_own = (ids[:, :, None] == own[:, None, :]).any(axis=2)
    gold_hit = ids[:, :, None] == golds[:, None, :]
    counted_gold = (gold_hit & reused_gold[:, None, :]).any(axis=2)
    too_similar = valid & ~is_own & (sim_gold >= ceiling)
    accepted = valid & ~is_own & ~too_similar
    before = np.cumsum(accepted, axis=1) - accepted  # kept hits strictly before each position
    examined = before < k
    keep = accepted & examined
    return Selection(keep, int((too_similar & examined).sum()), int((counted_gold & examined).sum()))
