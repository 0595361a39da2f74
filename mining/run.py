"""A mining run, stage by stage: answer pool -> embeddings -> candidates -> plausibility -> tiers.

Each stage reads what it needs from the warehouse with a short read-only connection and hands new
rows to a sink (the warehouse directly, or a staging folder a pipeline writer loads). Caches make
re-mining cheap: unchanged inputs compute no embedding and no log-likelihood, and a benchmark whose
candidate inputs are unchanged reuses its stored candidates without searching. Candidates are
stored as soon as they are found; the graded negatives replace the previous ones in one transaction
at the end, so a killed run leaves the last good set in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import duckdb
import numpy as np
import polars as pl

from likra.scoring.requests import ItemRow, load_items
from likra.scoring.run import CachedScorer
from likra.scoring.store import cache_frame, save_frames
from mining.candidates import CandidateSet, generate
from mining.config import MiningConfig
from mining.embeddings import (Embedder, cached_embeddings, embedder_key, embedding_frame, missing_embeddings,
                               save_embeddings)
from mining.grading import grade
from mining.lexical import bm25_hits
from mining.normalize import norm_hash, text_hash
from mining.plausibility import AnswerRequest, plausibility_frame, plausibility_requests
from mining.pool import answer_occurrences, answer_pool
from mining.store import stored_candidates, write_candidates, write_graded
from mining.summary import MiningSummary, summarize
from warehouse.db import connect, connect_read_only
from warehouse.errors import WarehouseError

# Texts embedded between writes to the cache: a killed run loses at most this much work, and few
# writes keep the cache's checkpoints cheap.
EMBED_FLUSH = 16384
SCORE_CHUNK = 2048
# Bump when candidate generation returns something else for the same inputs: stored sets then stop matching.
CANDIDATES_VERSION = 2
# The settings candidates depend on; the scorer and the tier rules only change grading.
CANDIDATE_SETTINGS = {"embedder", "scope", "query", "k", "lexical_k", "max_sim_to_gold", "index"}


class FrameSink(Protocol):
    """Where a stage's new cache rows go: `loglik_cache` or `text_embeddings` frames."""

    def write(self, table: str, frame: pl.DataFrame) -> None: ...


class WarehouseFrameSink:
    """Writes each frame in its own short transaction."""

    def __init__(self, db: str | os.PathLike[str] | None = None):
        self.db = db

    def write(self, table: str, frame: pl.DataFrame) -> None:
        with connect(self.db) as con:
            save_cache_rows(con, table, frame)


def save_cache_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Insert rows of one of the caches (existing keys are kept)."""
    if table == "text_embeddings":
        save_embeddings(con, frame)
    elif table == "loglik_cache":
        save_frames(con, frame)
    else:
        raise ValueError(f"not a cache table: {table}")


@dataclass
class MiningInputs:
    """The items of the benchmark, the answer pool in scope, and every text that needs an embedding."""

    benchmark: str
    items: list[ItemRow]
    pool: pl.DataFrame
    texts: dict[str, str]  # text hash -> text, for every text that needs its own embedding
    aliases: dict[str, str] = field(default_factory=dict)  # text hash -> hash of the pool form it normalises to


@dataclass
class CandidateStage:
    """A benchmark's candidates and how they were obtained."""

    found: CandidateSet
    embeddings: dict[str, int]  # cached / computed
    reused_from: str | None = None  # the run that found them, when the inputs were unchanged


def load_inputs(db: str | os.PathLike[str] | None, benchmark: str, config: MiningConfig) -> MiningInputs:
    """Items of the benchmark and the answer pool (same benchmark or all, by config)."""
    with connect_read_only(db) as con:
        items = load_items(con, benchmark)
        occurrences = answer_occurrences(con, None if config.scope == "all" else [benchmark])
    pool = answer_pool(occurrences)
    if pool.is_empty() and (config.k or config.lexical_k):
        raise WarehouseError(
            f"the answer pool of {benchmark!r} (scope {config.scope}) is empty: there are no answer texts to mine "
            "(partial-format items score contexts, not answers); set k and lexical_k to 0 to grade only each "
            "item's own distractors, or mine with scope 'all'")
    texts = dict(zip(pool["text_hash"].to_list(), pool["text"].to_list()))
    pool_form = dict(zip(pool["norm_hash"].to_list(), pool["text_hash"].to_list()))
    aliases: dict[str, str] = {}
    for item in items:
        for text in item.choices:
            h = text_hash(text)
            # Spellings that normalise alike ("Mars." / "mars") share the pool form's embedding.
            if h not in texts and norm_hash(text) in pool_form:
                aliases[h] = pool_form[norm_hash(text)]
            else:
                texts.setdefault(h, text)
        texts.setdefault(text_hash(item.question), item.question)
    return MiningInputs(benchmark, items, pool, texts, aliases)


def embed(db: str | os.PathLike[str] | None, config: MiningConfig, texts: dict[str, str],
          sink: FrameSink) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Compute the embeddings the cache lacks and hand them to the sink in parts; (new vectors by hash, counts)."""
    embedder = Embedder(config.embedder)
    with connect_read_only(db) as con:
        missing = missing_embeddings(con, embedder.key, list(texts))
    # Shortest first across parts, so each part's batches pad little (the embedder sorts within a part).
    order = sorted((h for h in texts if h in missing), key=lambda h: len(texts[h]))
    fresh: dict[str, np.ndarray] = {}
    for start in range(0, len(order), EMBED_FLUSH):
        part = order[start: start + EMBED_FLUSH]
        computed = embedder.encode([texts[h] for h in part])
        sink.write("text_embeddings", embedding_frame(embedder.key, part, computed))
        fresh.update(zip(part, computed))
    return fresh, {"cached": len(texts) - len(order), "computed": len(order)}


def load_vectors(db: str | os.PathLike[str] | None, config: MiningConfig, texts: dict[str, str],
                 fresh: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Embeddings of every text: those just computed as given, the rest from the cache."""
    fresh = fresh or {}
    with connect_read_only(db) as con:
        vectors = cached_embeddings(con, embedder_key(config.embedder), [h for h in texts if h not in fresh])
    vectors.update(fresh)
    lacking = [texts[h] for h in texts if h not in vectors]
    if lacking:
        raise WarehouseError(f"{len(lacking)} texts have no cached embedding (e.g. {lacking[0][:60]!r}): "
                             "run the embedding stage first")
    return vectors


def candidates_key(inputs: MiningInputs, config: MiningConfig) -> str:
    """Hash of everything a benchmark's candidates depend on: settings, embedding weights, items, answer pool."""
    digest = hashlib.sha256()
    settings = config.model_dump(mode="json", include=CANDIDATE_SETTINGS)
    digest.update(json.dumps([CANDIDATES_VERSION, embedder_key(config.embedder), settings], sort_keys=True).encode())
    columns = {"item_id": [i.item_id for i in inputs.items], "format": [i.format for i in inputs.items],
               "question": [i.question for i in inputs.items], "choices": [json.dumps(i.choices) for i in inputs.items],
               "gold": [json.dumps([i.gold, i.golds]) for i in inputs.items],
               **{name: inputs.pool[name].cast(pl.String).to_list()
                  for name in ("norm_hash", "text", "first_item_id", "n_occurrences", "n_gold")}}
    for name, values in columns.items():  # one joined string per column: fast for a pool of millions
        digest.update(f"{name}:{len(values)}\x1e".encode())
        digest.update("\x1f".join(values).encode())
    return digest.hexdigest()[:32]


def reusable_candidates(db: str | os.PathLike[str] | None, inputs: MiningInputs, config: MiningConfig) -> (
        tuple[str, CandidateStage | None]):
    """(inputs key, the stored candidate set if it was mined from exactly these inputs and settings, else None)."""
    key = candidates_key(inputs, config)
    with connect_read_only(db) as con:
        stored = stored_candidates(con, inputs.benchmark, key)
    if stored is None:
        return key, None
    return key, CandidateStage(stored.found, {"cached": 0, "computed": 0}, reused_from=stored.run_id)


def mine_candidates(db: str | os.PathLike[str] | None, inputs: MiningInputs, config: MiningConfig, run_id: str,
                    *, reuse: bool = True) -> CandidateStage:
    """The benchmark's candidates: the stored set when nothing it depends on changed, else embedded and searched
    afresh and stored at once (so a later failure does not lose them)."""
    key, stage = reusable_candidates(db, inputs, config) if reuse else (candidates_key(inputs, config), None)
    if stage is not None:
        return stage
    fresh, counts = embed(db, config, inputs.texts, WarehouseFrameSink(db))
    found = find_candidates(inputs, load_vectors(db, config, inputs.texts, fresh), config)
    with connect(db) as con:
        write_candidates(con, inputs.benchmark, run_id, found, key)
    return CandidateStage(found, counts)


def find_candidates(inputs: MiningInputs, vectors: dict[str, np.ndarray], config: MiningConfig) -> CandidateSet:
    """Own distractors, nearest answers of other questions and (optionally) BM25 matches, filtered."""
    vectors = {**vectors, **{alias: vectors[target] for alias, target in inputs.aliases.items()}}
    lexical = None
    if config.lexical_k:
        questions = {i.item_id: i.question for i in inputs.items if i.format == "continuation"}
        lexical = bm25_hits(inputs.pool, questions, config.lexical_k * 3)
    return generate(inputs.items, inputs.pool, vectors, config, lexical)


def score_candidates(db: str | os.PathLike[str] | None, config: MiningConfig, items: list[ItemRow],
                     candidates: pl.DataFrame, sink: FrameSink,
                     progress: Callable[[int], None] | None = None) -> tuple[list[AnswerRequest], dict, dict[str, int]]:
    """Log-likelihood of every candidate and gold answer: cached ones reused, the rest computed."""
    requests = plausibility_requests(items, candidates)
    scorer = CachedScorer(db, model=config.scorer_model, dtype=config.dtype)
    scores = scorer.lookup(requests)
    cached = len(scores)
    missing = list({(r.context_hash, r.continuation_hash): r for r in requests
                    if (r.context_hash, r.continuation_hash) not in scores}.values())
    for start in range(0, len(missing), SCORE_CHUNK):
        chunk = missing[start: start + SCORE_CHUNK]
        fresh = scorer.compute(chunk)
        sink.write("loglik_cache", cache_frame(scorer.setting(), [(r, fresh[(r.context_hash, r.continuation_hash)])
                                                                   for r in chunk]))
        scores.update(fresh)
        if progress:
            progress(len(chunk))
    return requests, scores, {"cached": cached, "computed": len(missing), "model": scorer.key}


def grade_candidates(candidates: pl.DataFrame, requests: list[AnswerRequest], scores: dict, items: list[ItemRow],
                     config: MiningConfig) -> pl.DataFrame:
    """Candidates with plausibility scores and a tier."""
    return grade(plausibility_frame(candidates, requests, scores, items), config.tiers)


def mine_benchmark(benchmark: str, *, db: str | os.PathLike[str] | None = None, config: MiningConfig | None = None,
                   progress: Callable[[str], None] | None = None, reuse: bool = True) -> MiningSummary:
    """Mine, score and grade negatives for every item of a benchmark; store them; report.

    `reuse=False` searches again even when the stored candidates were mined from unchanged inputs.
    """
    config = config or MiningConfig()
    started, wall = datetime.now(), time.perf_counter()
    summary = MiningSummary(uuid.uuid4().hex, benchmark, config.digest())
    say = progress or (lambda message: None)
    inputs = load_inputs(db, benchmark, config)
    say(f"{len(inputs.items)} items, answer pool of {inputs.pool.height} distinct answers")
    stage = mine_candidates(db, inputs, config, summary.run_id, reuse=reuse)
    summary.embeddings, summary.candidates_from = stage.embeddings, stage.reused_from
    if stage.reused_from:
        say(f"candidates: {stage.found.frame.height}, unchanged since run {stage.reused_from} (no embedding, no search)")
    else:
        say(f"embeddings: {stage.embeddings['cached']} cached, {stage.embeddings['computed']} computed")
        say(f"candidates: {stage.found.frame.height}; removed {dict(stage.found.removed)}")
    requests, scores, summary.logliks = score_candidates(db, config, inputs.items, stage.found.frame,
                                                         WarehouseFrameSink(db))
    say(f"log-likelihoods: {summary.logliks['cached']} cached, {summary.logliks['computed']} computed")
    graded = grade_candidates(stage.found.frame, requests, scores, inputs.items, config)
    summarize(summary, inputs.items, stage.found, graded)
    summary.seconds = round(time.perf_counter() - wall, 3)
    with connect(db) as con:
        write_graded(con, summary, config, graded, started)
    return summary
