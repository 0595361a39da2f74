"""A mining run, stage by stage: answer pool -> embeddings -> candidates -> plausibility -> tiers.

Each stage reads what it needs from the warehouse with a short read-only connection and hands new
rows to a sink (the warehouse directly, or a staging folder a pipeline writer loads). Caches make
re-mining cheap: unchanged inputs compute no embedding and no log-likelihood. The run's candidates
and graded negatives replace the benchmark's previous ones in one transaction at the end, so a
killed run leaves the last good set in place.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import duckdb
import numpy as np
import polars as pl

from likra.scoring.requests import ItemRow, load_items
from likra.scoring.run import CachedScorer
from likra.scoring.store import cache_frame, save_frames
from mining.candidates import CandidateSet, generate
from mining.config import MiningConfig
from mining.embeddings import Embedder, cached_embeddings, embedding_frame, save_embeddings
from mining.grading import grade
from mining.lexical import bm25_hits
from mining.normalize import norm_hash, text_hash
from mining.plausibility import AnswerRequest, plausibility_frame, plausibility_requests
from mining.pool import answer_occurrences, answer_pool
from warehouse.db import connect, connect_read_only, transaction
from warehouse.errors import WarehouseError

EMBED_BATCH = 4096
SCORE_CHUNK = 2048


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
class MiningSummary:
    """What a run did, in the spirit of the statistics `mine_hard_negatives` prints."""

    run_id: str
    benchmark: str
    config_hash: str
    items: int = 0
    items_without_negatives: int = 0
    negatives: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)
    by_origin: dict[str, int] = field(default_factory=dict)
    by_origin_and_tier: dict[str, dict[str, int]] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    embeddings: dict[str, int] = field(default_factory=dict)  # cached / computed
    logliks: dict[str, int] = field(default_factory=dict)  # cached / computed
    statistics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """Embeddings of every text: from the cache, else computed and handed to the sink in batches."""
    embedder = Embedder(config.embedder)
    with connect_read_only(db) as con:
        vectors = cached_embeddings(con, embedder.key, list(texts))
    # Sorted by length, every batch pads little (the encoder sorts within a call; this sorts across calls).
    missing = sorted((h for h in texts if h not in vectors), key=lambda h: len(texts[h]))
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start: start + EMBED_BATCH]
        computed = embedder.encode([texts[h] for h in batch])
        sink.write("text_embeddings", embedding_frame(embedder.key, batch, computed))
        vectors.update(zip(batch, computed))
    return vectors, {"cached": len(texts) - len(missing), "computed": len(missing)}


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


def _stats(values: pl.Series) -> dict[str, float]:
    if values.is_empty():
        return {}
    return {"mean": round(float(values.mean()), 4), "median": round(float(values.median()), 4),
            "std": round(float(values.std() or 0.0), 4), "min": round(float(values.min()), 4),
            "max": round(float(values.max()), 4)}


def summarize(summary: MiningSummary, items: list[ItemRow], candidates: CandidateSet, graded: pl.DataFrame) -> None:
    """Fill the counts and score statistics of a run."""
    summary.items = len(items)
    with_negatives = set(graded["item_id"].to_list())
    summary.items_without_negatives = sum(1 for i in items if i.item_id not in with_negatives)
    summary.negatives = graded.height
    summary.by_tier = {t: int(n) for t, n in graded.group_by("tier").len().iter_rows()}
    summary.by_origin = {o: int(n) for o, n in graded.group_by("origin").len().iter_rows()}
    summary.by_origin_and_tier = {}
    for origin, tier, n in graded.group_by("origin", "tier").len().iter_rows():
        summary.by_origin_and_tier.setdefault(origin, {})[tier] = int(n)
    summary.removed = dict(candidates.removed)
    summary.statistics = {
        "gold_loglik": _stats(graded.unique("item_id")["gold_loglik"]),
        "negative_loglik": _stats(graded["loglik"]),
        "margin_per_token": _stats(graded["margin_per_token"]),
        "sim_gold": _stats(graded["sim_gold"]),
        **{f"margin_per_token[{tier}]": _stats(part["margin_per_token"])
           for (tier,), part in graded.group_by("tier")},
        **{f"sim_gold[{tier}]": _stats(part["sim_gold"]) for (tier,), part in graded.group_by("tier")},
    }


GRADED_COLUMNS = ["item_id", "benchmark", "negative", "norm_hash", "origin", "origin_item_id", "sim_gold",
                  "sim_question", "loglik", "n_tokens", "loglik_per_token", "loglik_per_char", "gold_loglik", "rank",
                  "margin", "margin_per_token", "margin_per_char", "tier"]


def _replace_rows(con: duckdb.DuckDBPyConnection, table: str, benchmark: str, frame: pl.DataFrame) -> None:
    """Swap a benchmark's rows of `table` for `frame` (inside the caller's transaction)."""
    con.register("new_rows", frame)
    try:
        con.execute(f"DELETE FROM {table} WHERE benchmark = ?", [benchmark])
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_rows")
    finally:
        con.unregister("new_rows")


def _candidate_rows(candidates: pl.DataFrame, run_id: str) -> pl.DataFrame:
    return candidates.drop("text_hash").with_columns(pl.lit(run_id).alias("mining_run_id"))


def write_candidates(con: duckdb.DuckDBPyConnection, benchmark: str, run_id: str, candidates: pl.DataFrame) -> None:
    """Replace the benchmark's candidates (one transaction)."""
    with transaction(con):
        _replace_rows(con, "candidates", benchmark, _candidate_rows(candidates, run_id))


def write_graded(con: duckdb.DuckDBPyConnection, summary: MiningSummary, config: MiningConfig, graded: pl.DataFrame,
                 started: datetime, candidates: pl.DataFrame | None = None) -> None:
    """Replace the benchmark's graded negatives (and candidates, if given) and record the run, in one transaction."""
    frame = (graded.rename({"text": "negative"}).select(GRADED_COLUMNS)
             .with_columns(pl.lit(summary.run_id).alias("mining_run_id")))
    with transaction(con):
        if candidates is not None:
            _replace_rows(con, "candidates", summary.benchmark, _candidate_rows(candidates, summary.run_id))
        _replace_rows(con, "graded_negatives", summary.benchmark, frame)
        con.execute("INSERT INTO mining_runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
                    [summary.run_id, summary.benchmark, summary.config_hash, config.model_dump_json(), started,
                     json.dumps(summary.as_dict())])


def mine_benchmark(benchmark: str, *, db: str | os.PathLike[str] | None = None, config: MiningConfig | None = None,
                   progress: Callable[[str], None] | None = None) -> MiningSummary:
    """Mine, score and grade negatives for every item of a benchmark; store them; report."""
    config = config or MiningConfig()
    started, wall = datetime.now(), time.perf_counter()
    summary = MiningSummary(uuid.uuid4().hex, benchmark, config.digest())
    say = progress or (lambda message: None)
    sink = WarehouseFrameSink(db)
    inputs = load_inputs(db, benchmark, config)
    say(f"{len(inputs.items)} items, answer pool of {inputs.pool.height} distinct answers")
    vectors, summary.embeddings = embed(db, config, inputs.texts, sink)
    say(f"embeddings: {summary.embeddings['cached']} cached, {summary.embeddings['computed']} computed")
    candidates = find_candidates(inputs, vectors, config)
    say(f"candidates: {candidates.frame.height}; removed {dict(candidates.removed)}")
    requests, scores, summary.logliks = score_candidates(db, config, inputs.items, candidates.frame, sink)
    say(f"log-likelihoods: {summary.logliks['cached']} cached, {summary.logliks['computed']} computed")
    graded = grade_candidates(candidates.frame, requests, scores, inputs.items, config)
    summarize(summary, inputs.items, candidates, graded)
    summary.seconds = round(time.perf_counter() - wall, 3)
    with connect(db) as con:
        write_graded(con, summary, config, graded, started, candidates.frame)
    return summary
