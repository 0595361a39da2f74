"""Candidate negatives per item: its own distractors, the nearest answers of other questions, and
(optionally) BM25 matches, with the false-negative filters counted as they remove candidates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from likra.scoring.requests import ItemRow
from mining.config import MiningConfig
from mining.normalize import norm_hash, text_hash
from mining.search import build_index, search
from mining.select import select_hits

CANDIDATE_SCHEMA = {
    "item_id": pl.String, "benchmark": pl.String, "text": pl.String, "norm_hash": pl.String, "text_hash": pl.String,
    "origin": pl.String, "origin_item_id": pl.String, "search_rank": pl.Int32, "sim_gold": pl.Float64,
    "sim_question": pl.Float64,
}
# Extra neighbours fetched per item, because the item's own answers and filtered ones come back too.
_SEARCH_SLACK = 3


@dataclass
class CandidateSet:
    """Candidates of a benchmark's items and what each filter removed."""

    frame: pl.DataFrame
    removed: Counter = field(default_factory=Counter)  # filter -> candidates removed
    items_without: int = 0  # items left with no candidate at all


def gold_indices(item: ItemRow) -> list[int]:
    """Every correct choice of an item."""
    return sorted({item.gold, *(item.golds or ())})


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


def _padded(rows: list[list[int]]) -> np.ndarray:
    width = max(1, max((len(r) for r in rows), default=1))
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def generate(items: Sequence[ItemRow], pool: pl.DataFrame, vectors: dict[str, np.ndarray], config: MiningConfig,
             lexical: dict[str, list[tuple[str, int]]] | None = None) -> CandidateSet:
    """Candidates for every item.

    `pool` is the answer pool (one row per normalised answer, `text_hash` of its first surface form);
    `vectors` maps text hashes (pool texts, every item's choices and questions) to embeddings;
    `lexical` maps item ids to BM25 hits (pool norm_hash, rank), when lexical mining is on.
    """
    rows: list[dict] = []
    removed: Counter = Counter()
    pool_hashes = pool["norm_hash"].to_list()
    pool_texts = pool["text"].to_list()
    pool_first_items = pool["first_item_id"].to_list()
    pool_occurrences = pool["n_occurrences"].to_list()
    by_norm = {h: i for i, h in enumerate(pool_hashes)}
    gold_vectors = {i.item_id: vectors[text_hash(i.choices[i.gold])] for i in items}

    def add(item: ItemRow, text: str, h: str, origin: str, origin_item: str | None, rank: int | None) -> None:
        vec = vectors[text_hash(text)]
        rows.append({"item_id": item.item_id, "benchmark": item.benchmark, "text": text, "norm_hash": h,
                     "text_hash": text_hash(text), "origin": origin, "origin_item_id": origin_item,
                     "search_rank": rank, "sim_gold": _cosine(vec, gold_vectors[item.item_id]),
                     "sim_question": _cosine(vec, vectors[text_hash(item.question)])})

    for item in items:  # the benchmark's own distractors
        golds = {norm_hash(item.choices[g]) for g in gold_indices(item)}
        seen: set[str] = set()
        for choice, text in enumerate(item.choices):
            if choice in gold_indices(item):
                continue
            h = norm_hash(text)
            if h in golds:
                removed["equals_gold"] += 1
            elif h in seen:
                removed["duplicate"] += 1
            else:
                seen.add(h)
                add(item, text, h, "own_distractor", item.item_id, None)

    searchable = [i for i in items if i.format == "continuation"] if config.k else []
    if searchable:
        pool_vectors = np.stack([vectors[h] for h in pool["text_hash"].to_list()])
        index = build_index(pool_vectors, config.index)
        queries = np.stack([gold_vectors[i.item_id] if config.query == "gold" else vectors[text_hash(i.question)]
                            for i in searchable])
        depth = config.k + max(len(i.choices) for i in searchable) + _SEARCH_SLACK * config.k
        for offset, scores, ids in search(index, queries, depth, config.index.query_batch):
            batch = searchable[offset: offset + len(ids)]
            own = _padded([[by_norm[norm_hash(t)] for t in i.choices if norm_hash(t) in by_norm] for i in batch])
            gold_rows = [[by_norm[norm_hash(i.choices[g])] for g in gold_indices(i) if norm_hash(i.choices[g]) in by_norm]
                         for i in batch]
            golds = _padded(gold_rows)
            # A gold answer found among the neighbours only counts as a removed false negative when it is
            # also another question's answer (the item's own gold always finds itself).
            reused = np.zeros(golds.shape, dtype=bool)
            for r, (item, gold_row) in enumerate(zip(batch, gold_rows)):
                mine = Counter(norm_hash(t) for t in item.choices)
                reused[r, : len(gold_row)] = [pool_occurrences[g] > mine[pool_hashes[g]] for g in gold_row]
            if config.query == "gold":
                sim_gold = scores
            else:
                gold_block = np.stack([gold_vectors[i.item_id] for i in batch])
                sim_gold = np.einsum("qkd,qd->qk", pool_vectors[np.maximum(ids, 0)], gold_block)
            chosen = select_hits(ids, sim_gold, own, golds, reused, config.max_sim_to_gold, config.k)
            removed["too_similar_to_gold"] += chosen.too_similar
            removed["equals_gold"] += chosen.equals_gold
            for r, c in zip(*np.nonzero(chosen.keep)):
                p = int(ids[r, c])
                add(batch[r], pool_texts[p], pool_hashes[p], "cross_question", pool_first_items[p], int(c) + 1)

    for item in items if lexical is not None else []:  # BM25 hits, after the nearest neighbours
        taken = {row["norm_hash"] for row in rows if row["item_id"] == item.item_id}
        golds = {norm_hash(item.choices[g]) for g in gold_indices(item)}
        own = {norm_hash(t) for t in item.choices}
        accepted = 0
        for h, rank in lexical.get(item.item_id, []):
            if accepted >= config.lexical_k or h not in by_norm:
                continue
            text = pool_texts[by_norm[h]]
            if h in own or h in taken:
                # As for neighbours: the item's own gold counts as a removed false negative only when
                # another question has it as an answer too.
                mine = sum(1 for t in item.choices if norm_hash(t) == h)
                removed["equals_gold"] += int(h in golds and pool_occurrences[by_norm[h]] > mine)
                continue
            if _cosine(vectors[text_hash(text)], gold_vectors[item.item_id]) >= config.max_sim_to_gold:
                removed["too_similar_to_gold"] += 1
            else:
                add(item, text, h, "lexical", pool_first_items[by_norm[h]], rank)
                taken.add(h)
                accepted += 1

    removed = Counter({name: n for name, n in removed.items() if n})
    frame = pl.DataFrame(rows, schema=CANDIDATE_SCHEMA, orient="row")
    with_candidates = set(frame["item_id"].to_list())
    return CandidateSet(frame, removed, sum(1 for i in items if i.item_id not in with_candidates))
