"""Candidate negatives per item: its own distractors, the nearest answers of other questions, and
(optionally) BM25 matches, with the false-negative filters counted as they remove candidates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mining.config import MiningConfig
from mining.inputs import MiningInputs
from mining.lexical import bm25_hits
from mining.search import build_index, search
from mining.select import select_hits
from warehouse.items import Item
from warehouse.negatives import ORIGINS
from warehouse.text import norm_hash, short_text_hash

OWN_DISTRACTOR, CROSS_QUESTION, LEXICAL = ORIGINS

CANDIDATE_SCHEMA = {
    "item_id": pl.String, "benchmark": pl.String, "text": pl.String, "norm_hash": pl.String, "origin": pl.String,
    "origin_item_id": pl.String, "search_rank": pl.Int32, "sim_gold": pl.Float64, "sim_question": pl.Float64,
}
# Extra neighbours fetched per item, because the item's own answers and filtered ones come back too.
_SEARCH_SLACK = 3


@dataclass
class CandidateSet:
    """Candidates of a benchmark's items and what each filter removed."""

    frame: pl.DataFrame
    removed: Counter = field(default_factory=Counter)  # filter -> candidates removed
    items_without: int = 0  # items left with no candidate at all


def _padded(rows: list[list[int]]) -> np.ndarray:
    width = max(1, max((len(r) for r in rows), default=1))
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@dataclass
class _Rows:
    """Candidates gathered column by column; their similarities are computed in one pass at the end."""

    item: list[int] = field(default_factory=list)  # index into the items
    text: list[str] = field(default_factory=list)
    norm_hash: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)
    origin_item: list[str | None] = field(default_factory=list)
    rank: list[int | None] = field(default_factory=list)
    vector: list[np.ndarray] = field(default_factory=list)

    def add(self, item: int, text: str, h: str, origin: str, origin_item: str | None, rank: int | None,
            vector: np.ndarray) -> None:
        for column, value in zip((self.item, self.text, self.norm_hash, self.origin, self.origin_item, self.rank,
                                  self.vector), (item, text, h, origin, origin_item, rank, vector)):
            column.append(value)

    def frame(self, items: Sequence[Item], gold: np.ndarray, question: np.ndarray) -> pl.DataFrame:
        if not self.item:
            return pl.DataFrame(schema=CANDIDATE_SCHEMA)
        rows = np.asarray(self.item)
        vectors = np.stack(self.vector)
        return pl.DataFrame({
            "item_id": [items[i].item_id for i in self.item], "benchmark": [items[i].benchmark for i in self.item],
            "text": self.text, "norm_hash": self.norm_hash, "origin": self.origin, "origin_item_id": self.origin_item,
            "search_rank": self.rank,
            "sim_gold": np.einsum("nd,nd->n", vectors, gold[rows]).astype(np.float64),
            "sim_question": np.einsum("nd,nd->n", vectors, question[rows]).astype(np.float64),
        }, schema=CANDIDATE_SCHEMA)


def generate(items: Sequence[Item], pool: pl.DataFrame, vectors: dict[str, np.ndarray], config: MiningConfig,
             lexical: dict[str, list[tuple[str, int]]] | None = None) -> CandidateSet:
    """Candidates for every item.

    `pool` is the answer pool (one row per normalised answer, `text_hash` of its first surface form);
    `vectors` maps text hashes (pool texts, every item's choices and questions) to embeddings;
    `lexical` maps item ids to BM25 hits (pool norm_hash, rank), when lexical mining is on.
    """
    rows = _Rows()
    removed: Counter = Counter()
    pool_hashes = pool["norm_hash"].to_list()
    pool_texts = pool["text"].to_list()
    pool_first_items = pool["first_item_id"].to_list()
    pool_occurrences = pool["n_occurrences"].to_list()
    by_norm = {h: i for i, h in enumerate(pool_hashes)}
    choice_norms = [[norm_hash(t) for t in i.choices] for i in items]
    golds_of = [i.true_choices for i in items]
    gold_norms = [{norms[g] for g in golds} for norms, golds in zip(choice_norms, golds_of)]
    gold_matrix = np.stack([vectors[short_text_hash(i.choices[i.gold])] for i in items]) if items else np.empty((0, 0))
    question_matrix = np.stack([vectors[short_text_hash(i.question)] for i in items]) if items else np.empty((0, 0))

    for r, item in enumerate(items):  # the benchmark's own distractors
        seen: set[str] = set()
        for choice, (text, h) in enumerate(zip(item.choices, choice_norms[r])):
            if choice in golds_of[r]:
                continue
            if h in gold_norms[r]:
                removed["equals_gold"] += 1
            elif h in seen:
                removed["duplicate"] += 1
            else:
                seen.add(h)
                rows.add(r, text, h, OWN_DISTRACTOR, item.item_id, None, vectors[short_text_hash(text)])

    searchable = [r for r, i in enumerate(items) if i.format == "continuation"] if config.k else []
    if searchable:
        pool_vectors = np.stack([vectors[h] for h in pool["text_hash"].to_list()])
        index = build_index(pool_vectors, config.index)
        queries = gold_matrix[searchable] if config.query == "gold" else question_matrix[searchable]
        depth = config.k + max(len(items[r].choices) for r in searchable) + _SEARCH_SLACK * config.k
        for offset, scores, ids in search(index, queries, depth, config.index.query_batch):
            batch = searchable[offset: offset + len(ids)]
            own = _padded([[by_norm[h] for h in choice_norms[r] if h in by_norm] for r in batch])
            gold_rows = [[by_norm[choice_norms[r][g]] for g in golds_of[r] if choice_norms[r][g] in by_norm]
                         for r in batch]
            golds = _padded(gold_rows)
            # A gold answer found among the neighbours only counts as a removed false negative when it is
            # also another question's answer (the item's own gold always finds itself).
            reused = np.zeros(golds.shape, dtype=bool)
            for q, (r, gold_row) in enumerate(zip(batch, gold_rows)):
                mine = Counter(choice_norms[r])
                reused[q, : len(gold_row)] = [pool_occurrences[g] > mine[pool_hashes[g]] for g in gold_row]
            sim_gold = scores if config.query == "gold" else np.einsum(
                "qkd,qd->qk", pool_vectors[np.maximum(ids, 0)], gold_matrix[batch])
            chosen = select_hits(ids, sim_gold, own, golds, reused, config.max_sim_to_gold, config.k)
            removed["too_similar_to_gold"] += chosen.too_similar
            removed["equals_gold"] += chosen.equals_gold
            for q, c in zip(*np.nonzero(chosen.keep)):
                p = int(ids[q, c])
                rows.add(batch[q], pool_texts[p], pool_hashes[p], CROSS_QUESTION, pool_first_items[p], int(c) + 1,
                         pool_vectors[p])

    if lexical is not None:  # BM25 hits, after the nearest neighbours
        taken: dict[int, set[str]] = {}
        for r, h in zip(rows.item, rows.norm_hash):
            taken.setdefault(r, set()).add(h)
        for r, item in enumerate(items):
            mine, accepted = taken.setdefault(r, set()), 0
            own = set(choice_norms[r])
            for h, rank in lexical.get(item.item_id, []):
                if accepted >= config.lexical_k or h not in by_norm:
                    continue
                text = pool_texts[by_norm[h]]
                if h in own or h in mine:
                    # As for neighbours: the item's own gold counts as a removed false negative only when
                    # another question has it as an answer too.
                    copies = choice_norms[r].count(h)
                    removed["equals_gold"] += int(h in gold_norms[r] and pool_occurrences[by_norm[h]] > copies)
                    continue
                vector = vectors[short_text_hash(text)]
                if float(vector @ gold_matrix[r]) >= config.max_sim_to_gold:
                    removed["too_similar_to_gold"] += 1
                else:
                    rows.add(r, text, h, LEXICAL, pool_first_items[by_norm[h]], rank, vector)
                    mine.add(h)
                    accepted += 1

    frame = rows.frame(items, gold_matrix, question_matrix)
    with_candidates = set(rows.item)
    removed = Counter({name: n for name, n in removed.items() if n})
    return CandidateSet(frame, removed, sum(1 for r in range(len(items)) if r not in with_candidates))


def find_candidates(inputs: MiningInputs, vectors: dict[str, np.ndarray], config: MiningConfig) -> CandidateSet:
    """Own distractors, nearest answers of other questions and (optionally) BM25 matches, filtered."""
    vectors = {**vectors, **{alias: vectors[target] for alias, target in inputs.aliases.items()}}
    lexical = None
    if config.lexical_k:
        questions = {i.item_id: i.question for i in inputs.items if i.format == "continuation"}
        lexical = bm25_hits(inputs.pool, questions, config.lexical_k * 3)
    return generate(inputs.items, inputs.pool, vectors, config, lexical)
