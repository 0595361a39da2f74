"""Candidate negatives per item: its own distractors, the nearest answers of other questions, and
(optionally) BM25 matches, with the false-negative filters (`mining.guard`) counted as they remove
candidates. A removed neighbour is replaced by the next one, so items keep k mined candidates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import polars as pl

from mining.config import MiningConfig
from mining.guard import EQUALS_GOLD, PARAPHRASE_MODEL, TOO_SIMILAR, TWIN_TRUE_ANSWER, Guard
from mining.inputs import MiningInputs
from mining.lexical import bm25_hits
from mining.search import build_index, search
from mining.select import Selection, select_hits
from warehouse.items import Item
from warehouse.negatives import ORIGINS
from warehouse.text import norm_hash, short_text_hash

OWN_DISTRACTOR, CROSS_QUESTION, LEXICAL = ORIGINS

CANDIDATE_SCHEMA = {
    "item_id": pl.String,
    "benchmark": pl.String,
    "text": pl.String,
    "norm_hash": pl.String,
    "origin": pl.String,
    "origin_item_id": pl.String,
    "search_rank": pl.Int32,
    "sim_gold": pl.Float64,
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

    def add(
        self, item: int, text: str, h: str, origin: str, origin_item: str | None, rank: int | None, vector: np.ndarray
    ) -> None:
        for column, value in zip(
            (self.item, self.text, self.norm_hash, self.origin, self.origin_item, self.rank, self.vector),
            (item, text, h, origin, origin_item, rank, vector),
        ):
            column.append(value)

    def frame(self, items: Sequence[Item], gold: np.ndarray, question: np.ndarray) -> pl.DataFrame:
        if not self.item:
            return pl.DataFrame(schema=CANDIDATE_SCHEMA)
        rows = np.asarray(self.item)
        vectors = np.stack(self.vector)
        return pl.DataFrame(
            {
                "item_id": [items[i].item_id for i in self.item],
                "benchmark": [items[i].benchmark for i in self.item],
                "text": self.text,
                "norm_hash": self.norm_hash,
                "origin": self.origin,
                "origin_item_id": self.origin_item,
                "search_rank": self.rank,
                "sim_gold": np.einsum("nd,nd->n", vectors, gold[rows]).astype(np.float64),
                "sim_question": np.einsum("nd,nd->n", vectors, question[rows]).astype(np.float64),
            },
            schema=CANDIDATE_SCHEMA,
        )


def _guard(
    items: Sequence[Item],
    golds_of: list[tuple[int, ...]],
    known_true: dict[str, tuple[str, ...]],
    vectors: dict[str, np.ndarray],
    config: MiningConfig,
) -> Guard:
    texts = [
        tuple(item.choices[g] for g in golds) + known_true.get(item.item_id, ()) for item, golds in zip(items, golds_of)
    ]
    matrices = [np.stack([vectors[short_text_hash(t)] for t in row]) for row in texts]
    dim = matrices[0].shape[1] if matrices else 0
    wrong = [[t for c, t in enumerate(item.choices) if c not in golds] for item, golds in zip(items, golds_of)]
    false = [
        np.stack([vectors[short_text_hash(t)] for t in row]) if row else np.empty((0, dim), dtype=np.float32)
        for row in wrong
    ]
    return Guard(config.guard, texts, matrices, false, [item.question for item in items])


def _guarded_selection(
    guard: Guard,
    rows: list[int],
    ids: np.ndarray,
    pool_texts: list[str],
    pool_vectors: np.ndarray,
    removed: Counter,
    choose: Callable[..., Selection],
) -> Selection:
    """`choose(blocked=...)` until every kept hit has passed the guard: a blocked hit makes room for the next one."""
    blocked = np.zeros(ids.shape, dtype=bool)
    checked = np.zeros(ids.shape, dtype=bool)
    while True:
        chosen = choose(blocked=blocked)
        todo = chosen.keep & ~checked
        if not guard.active or not todo.any():
            return chosen
        for q, c in zip(*np.nonzero(todo)):
            checked[q, c] = True
            p = int(ids[q, c])
            found = guard.rule(rows[q], pool_texts[p], pool_vectors[p])
            if found:
                blocked[q, c] = True
                removed[found] += 1


def generate(
    items: Sequence[Item],
    pool: pl.DataFrame,
    vectors: dict[str, np.ndarray],
    config: MiningConfig,
    lexical: dict[str, list[tuple[str, int]]] | None = None,
    known_true: dict[str, tuple[str, ...]] | None = None,
) -> CandidateSet:
    """Candidates for every item.

    `pool` is the answer pool (one row per normalised answer, `text_hash` of its first surface form);
    `vectors` maps text hashes (pool texts, every item's choices, questions and known-true answers) to
    embeddings; `lexical` maps item ids to BM25 hits (pool norm_hash, rank), when lexical mining is on;
    `known_true` maps item ids to the true answers of their twin questions.
    """
    known_true = known_true or {}
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
    twin_norms = [{norm_hash(t) for t in known_true.get(i.item_id, ())} - gold_norms[r] for r, i in enumerate(items)]
    guard = _guard(items, golds_of, known_true, vectors, config)
    gold_matrix = np.stack([vectors[short_text_hash(i.choices[i.gold])] for i in items]) if items else np.empty((0, 0))
    question_matrix = np.stack([vectors[short_text_hash(i.question)] for i in items]) if items else np.empty((0, 0))

    for r, item in enumerate(items):  # the benchmark's own distractors
        seen: set[str] = set()
        for choice, (text, h) in enumerate(zip(item.choices, choice_norms[r])):
            if choice in golds_of[r]:
                continue
            if h in gold_norms[r]:
                removed[EQUALS_GOLD] += 1
            elif h in twin_norms[r]:
                removed[TWIN_TRUE_ANSWER] += 1
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
            batch = searchable[offset : offset + len(ids)]
            own = _padded([[by_norm[h] for h in choice_norms[r] if h in by_norm] for r in batch])
            gold_rows = [
                [by_norm[choice_norms[r][g]] for g in golds_of[r] if choice_norms[r][g] in by_norm] for r in batch
            ]
            golds = _padded(gold_rows)
            # A gold answer found among the neighbours only counts as a removed false negative when it is
            # also another question's answer (the item's own gold always finds itself).
            reused = np.zeros(golds.shape, dtype=bool)
            for q, (r, gold_row) in enumerate(zip(batch, gold_rows)):
                mine = Counter(choice_norms[r])
                reused[q, : len(gold_row)] = [pool_occurrences[g] > mine[pool_hashes[g]] for g in gold_row]
            sim_gold = (
                scores
                if config.query == "gold"
                else np.einsum("qkd,qd->qk", pool_vectors[np.maximum(ids, 0)], gold_matrix[batch])
            )
            known = _padded([[by_norm[h] for h in twin_norms[r] if h in by_norm] for r in batch])
            choose = partial(
                select_hits, ids, sim_gold, own, golds, reused, config.max_sim_to_gold, config.k, known=known
            )
            chosen = _guarded_selection(guard, batch, ids, pool_texts, pool_vectors, removed, choose)
            removed[TOO_SIMILAR] += chosen.too_similar
            removed[EQUALS_GOLD] += chosen.equals_gold
            removed[TWIN_TRUE_ANSWER] += chosen.twin_true
            for q, c in zip(*np.nonzero(chosen.keep)):
                p = int(ids[q, c])
                rows.add(
                    batch[q],
                    pool_texts[p],
                    pool_hashes[p],
                    CROSS_QUESTION,
                    pool_first_items[p],
                    int(c) + 1,
                    pool_vectors[p],
                )

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
                    removed[EQUALS_GOLD] += int(h in gold_norms[r] and pool_occurrences[by_norm[h]] > copies)
                    continue
                vector = vectors[short_text_hash(text)]
                if h in twin_norms[r]:
                    removed[TWIN_TRUE_ANSWER] += 1
                elif float(vector @ gold_matrix[r]) >= config.max_sim_to_gold:
                    removed[TOO_SIMILAR] += 1
                elif guard.active and (found := guard.rule(r, text, vector)):
                    removed[found] += 1
                else:
                    rows.add(r, text, h, LEXICAL, pool_first_items[by_norm[h]], rank, vector)
                    mine.add(h)
                    accepted += 1

    frame = rows.frame(items, gold_matrix, question_matrix)
    mined = [i for i, origin in enumerate(rows.origin) if origin != OWN_DISTRACTOR]
    paraphrases = guard.cross_encoder_paraphrases([rows.item[i] for i in mined], [rows.text[i] for i in mined])
    if paraphrases.any():  # the cross-encoder judges the chosen candidates only: it is the costly check
        drop = np.zeros(frame.height, dtype=bool)
        drop[np.asarray(mined)[paraphrases]] = True
        frame = frame.filter(~pl.Series(drop))
        removed[PARAPHRASE_MODEL] += int(paraphrases.sum())
    with_candidates = set(frame["item_id"].to_list())
    removed = Counter({name: n for name, n in removed.items() if n})
    return CandidateSet(frame, removed, sum(1 for item in items if item.item_id not in with_candidates))


def find_candidates(inputs: MiningInputs, vectors: dict[str, np.ndarray], config: MiningConfig) -> CandidateSet:
    """Own distractors, nearest answers of other questions and (optionally) BM25 matches, filtered."""
    vectors = {**vectors, **{alias: vectors[target] for alias, target in inputs.aliases.items()}}
    lexical = None
    if config.lexical_k:
        questions = {i.item_id: i.question for i in inputs.items if i.format == "continuation"}
        lexical = bm25_hits(inputs.pool, questions, config.lexical_k * 3)
    return generate(inputs.items, inputs.pool, vectors, config, lexical, inputs.known_true)
