"""Scoring a benchmark end to end: items and few-shot context from the warehouse, cache lookups, the
engine for what is new, results written in chunks of whole items so a killed run keeps its work."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from likra.models import DEFAULT_MODEL, LoadedModel, load_model, model_key
from likra.scoring.engine import Score, Scorer
from likra.scoring.requests import ChoiceRequest, build_requests, load_items
from likra.scoring.store import (BASE_ADAPTER, Keyed, Setting, cache_frame, cached_scores, choice_frame,
                                 save_frames)
from warehouse.db import connect, connect_read_only
from warehouse.staging import Staging


@dataclass
class ScoreReport:
    """What a scoring run did: counts, accuracy per split, and how fast the model part ran."""

    run_id: str
    benchmark: str
    model: str
    adapter: str
    fewshot: int
    dtype: str
    n_items: int = 0
    n_requests: int = 0
    n_cached: int = 0
    n_truncated: int = 0
    forward_tokens: int = 0
    seconds: float = 0.0
    compute_seconds: float = 0.0
    load_seconds: float = 0.0  # loading the model, apart from scoring
    started_at: str = ""
    finished_at: str = ""
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> {acc, acc_norm, n}

    @property
    def choices_per_second(self) -> float:
        """Requests the model scored per second of model time (cache hits excluded)."""
        computed = self.n_requests - self.n_cached
        return computed / self.compute_seconds if self.compute_seconds else 0.0


class ScoreSink(Protocol):
    """Where scored chunks go: the warehouse directly, or staging files a writer loads later."""

    def write(self, cache: pl.DataFrame, choices: pl.DataFrame) -> None: ...

    def finish(self, report: ScoreReport) -> None: ...


def record_run(con, report: ScoreReport) -> None:
    """One row of `score_runs`."""
    con.execute(
        "INSERT INTO score_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [report.run_id, report.benchmark, report.model, report.adapter, report.fewshot, report.dtype,
         report.n_items, report.n_requests, report.n_cached, report.n_truncated, report.forward_tokens,
         report.seconds, report.started_at, report.finished_at])


class WarehouseSink:
    """Writes each chunk in its own short transaction (the write lock is not held while scoring)."""

    def __init__(self, db: str | os.PathLike[str] | None = None):
        self.db = db

    def write(self, cache: pl.DataFrame, choices: pl.DataFrame) -> None:
        with connect(self.db) as con:
            save_frames(con, cache, choices)

    def finish(self, report: ScoreReport) -> None:
        with connect(self.db) as con:
            record_run(con, report)


class StagingSink:
    """Writes chunks as Parquet parts in a folder; `load_staged` moves them into the warehouse."""

    def __init__(self, folder: Path):
        self.staging = Staging(folder, fresh=True)

    def write(self, cache: pl.DataFrame, choices: pl.DataFrame) -> None:
        self.staging.write("loglik_cache", cache)
        self.staging.write("choice_scores", choices)

    def finish(self, report: ScoreReport) -> None:
        self.staging.write_json("report", asdict(report))


def load_staged(con, folder: Path) -> ScoreReport:
    """Move a staged scoring run into the warehouse, part by part, then record it."""
    staging = Staging(folder)
    report = ScoreReport(**staging.read_json("report"))
    for cache, choices in zip(staging.frames("loglik_cache"), staging.frames("choice_scores")):
        save_frames(con, cache, choices)
    record_run(con, report)
    return report


def accuracy(scored: Sequence[tuple[ChoiceRequest, Score]]) -> dict[str, dict[str, float]]:
    """acc and acc_norm per split, argmax with first-index ties as lm-evaluation-harness (numpy) breaks them."""
    by_item: dict[str, list[tuple[ChoiceRequest, Score]]] = {}
    for request, score in scored:
        by_item.setdefault(request.item.item_id, []).append((request, score))
    totals: dict[str, dict[str, float]] = {}
    for choices in by_item.values():
        item = choices[0][0].item
        ordered = sorted(choices, key=lambda rs: rs[0].choice)
        lls = [s.loglik for _, s in ordered]
        norms = [s.loglik / max(1, len(r.item.answer_text(r.choice))) for r, s in ordered]
        split = totals.setdefault(item.split, {"acc": 0.0, "acc_norm": 0.0, "n": 0})
        split["acc"] += lls.index(max(lls)) == item.gold
        split["acc_norm"] += norms.index(max(norms)) == item.gold
        split["n"] += 1
    return {s: {"acc": v["acc"] / v["n"], "acc_norm": v["acc_norm"] / v["n"], "n": v["n"]} for s, v in totals.items()}


class CachedScorer:
    """Scores keyed requests with one model, answering from `loglik_cache` first and loading the
    model only when something is missing."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, model: str = DEFAULT_MODEL,
                 loaded: LoadedModel | None = None, dtype: str = "auto", scorer_options: dict | None = None):
        self.db, self.model, self.dtype = db, model, dtype
        self.loaded = loaded
        self.scorer_options = scorer_options or {}
        self._scorer: Scorer | None = None
        self.compute_seconds = 0.0
        self.load_seconds = 0.0
        key = loaded.key if loaded is not None else model_key(model, dtype)
        if key is None:  # a hub id: its revision is known once loaded
            self._load()
            key = self.loaded.key
        self.key = key

    def _load(self) -> None:
        started = time.perf_counter()
        self.loaded = load_model(self.model, dtype=self.dtype)
        self.load_seconds += time.perf_counter() - started

    @property
    def forward_tokens(self) -> int:
        return self._scorer.forward_tokens if self._scorer else 0

    @property
    def dtype_name(self) -> str:
        return str(self.loaded.dtype).removeprefix("torch.") if self.loaded is not None else self.dtype

    def setting(self, fewshot: int = 0) -> Setting:
        return Setting(self.key, BASE_ADAPTER, fewshot)

    def lookup(self, requests: Sequence[Keyed]) -> dict[tuple[str, str], Score]:
        """Cached scores of these requests."""
        with connect_read_only(self.db) as con:
            return cached_scores(con, self.setting(), requests)

    def compute(self, requests: Sequence[Keyed]) -> dict[tuple[str, str], Score]:
        """Run the engine on these requests (loading the model on first use)."""
        if not requests:
            return {}
        if self._scorer is None:
            if self.loaded is None:
                self._load()
            self._scorer = Scorer(self.loaded, **self.scorer_options)
        started = time.perf_counter()
        scores = self._scorer.score([r.request for r in requests])[0]
        self.compute_seconds += time.perf_counter() - started
        return {(r.context_hash, r.continuation_hash): s for r, s in zip(requests, scores)}


def score_benchmark(
    benchmark: str,
    *,
    db: str | os.PathLike[str] | None = None,
    model: str = DEFAULT_MODEL,
    loaded: LoadedModel | None = None,
    dtype: str = "auto",
    fewshot: int = 0,
    fewshot_split: str | None = None,
    splits: Sequence[str] | None = None,
    limit: int | None = None,
    chunk_items: int = 256,
    sink: ScoreSink | None = None,
    progress: Callable[[int], None] | None = None,
    scorer_options: dict | None = None,
) -> ScoreReport:
    """Score every choice of a benchmark's items with the base model; cached scores cost nothing."""
    started, wall = datetime.now(), time.perf_counter()
    with connect_read_only(db) as con:
        items = load_items(con, benchmark, splits, limit)
        requests = build_requests(con, items, fewshot, fewshot_split)
    scorer = CachedScorer(db, model=model, loaded=loaded, dtype=dtype, scorer_options=scorer_options)
    setting = scorer.setting(fewshot)
    cached = scorer.lookup(requests)
    report = ScoreReport(uuid.uuid4().hex, benchmark, scorer.key, BASE_ADAPTER, fewshot, dtype, n_items=len(items),
                         n_requests=len(requests), started_at=started.isoformat())
    sink = sink or WarehouseSink(db)
    all_scored: list[tuple[ChoiceRequest, Score]] = []
    by_item: dict[str, list[ChoiceRequest]] = {}
    for request in requests:
        by_item.setdefault(request.item.item_id, []).append(request)
    item_ids = list(by_item)
    for begin in range(0, len(item_ids), chunk_items):
        chunk = [r for item_id in item_ids[begin: begin + chunk_items] for r in by_item[item_id]]
        fresh = scorer.compute([r for r in chunk if (r.context_hash, r.continuation_hash) not in cached])
        scored = [(r, fresh.get((r.context_hash, r.continuation_hash)) or cached[(r.context_hash, r.continuation_hash)])
                  for r in chunk]
        sink.write(cache_frame(setting, scored), choice_frame(setting, report.run_id, scored))
        all_scored += scored
        if progress:
            progress(len(chunk))
    report.n_cached = sum(1 for r in requests if (r.context_hash, r.continuation_hash) in cached)
    report.n_truncated = sum(1 for _, s in all_scored if s.truncated)
    report.forward_tokens = scorer.forward_tokens
    report.compute_seconds = scorer.compute_seconds
    report.load_seconds = scorer.load_seconds
    report.dtype = scorer.dtype_name
    report.accuracy = accuracy(all_scored)
    report.seconds = time.perf_counter() - wall
    report.finished_at = datetime.now().isoformat()
    sink.finish(report)
    return report
