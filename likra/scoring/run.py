"""Scoring a benchmark end to end: items and few-shot context from the warehouse, cache lookups, the
engine for what is new, results written in chunks of whole items so a killed run keeps its work."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from likra.models import LoadedModel
from likra.scoring.cached import CachedScorer, score_chunks
from likra.scoring.config import ScoringConfig, scoring_settings
from likra.scoring.engine import Score
from likra.scoring.requests import ChoiceRequest, build_requests
from likra.scoring.store import BASE_ADAPTER
from warehouse.db import connect_read_only
from warehouse.items import load_items
from warehouse.location import DbRef
from warehouse.sinks import Sink, WarehouseSink


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


def run_frame(report: ScoreReport) -> pl.DataFrame:
    """The run's row of `score_runs`."""
    columns = [
        "run_id",
        "benchmark",
        "model",
        "adapter",
        "fewshot",
        "dtype",
        "n_items",
        "n_requests",
        "n_cached",
        "n_truncated",
        "forward_tokens",
        "seconds",
        "started_at",
        "finished_at",
    ]
    row = {c: getattr(report, c) for c in columns}
    return pl.DataFrame([row]).with_columns(
        pl.col("started_at", "finished_at").str.to_datetime(),
        pl.col("fewshot", "n_items", "n_requests", "n_cached", "n_truncated").cast(pl.Int32),
    )


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


def score_benchmark(
    benchmark: str,
    config: ScoringConfig | None = None,
    *,
    db: DbRef = None,
    loaded: LoadedModel | None = None,
    chunk_items: int = 256,
    sink: Sink | None = None,
    progress: Callable[[int], None] | None = None,
    scorer_options: dict | None = None,
    item_ids: Sequence[str] | None = None,
    run_id: str | None = None,
    record_run: bool = True,
    **settings,
) -> ScoreReport:
    """Score every choice of a benchmark's items (or only of `item_ids`) with the base model; cached scores
    cost nothing.

    `settings` are fields of `ScoringConfig` (model, dtype, fewshot, fewshot_split, splits, limit) that
    override `config`. A chunk of a fanned-out run passes the run's `run_id` and `record_run=False`: the step
    that merges the chunks' reports writes the run's one `score_runs` row."""
    config = scoring_settings(config, **settings)
    model, dtype, fewshot = config.model, config.dtype, config.fewshot
    started, wall = datetime.now(), time.perf_counter()
    with connect_read_only(db) as con:
        items = load_items(con, benchmark, config.splits, config.limit)
        if item_ids is not None:
            wanted = set(item_ids)
            items = [item for item in items if item.item_id in wanted]
        requests = build_requests(con, items, fewshot, config.fewshot_split)
    scorer = CachedScorer(db, model=model, loaded=loaded, dtype=dtype, scorer_options=scorer_options)
    sink = sink or WarehouseSink(db)
    report = ScoreReport(
        run_id or uuid.uuid4().hex,
        benchmark,
        scorer.key,
        BASE_ADAPTER,
        fewshot,
        dtype,
        n_items=len(items),
        n_requests=len(requests),
        started_at=started.isoformat(),
    )
    scored, report.n_cached = score_chunks(
        scorer, requests, {BASE_ADAPTER: None}, fewshot, report.run_id, sink, chunk_items=chunk_items, progress=progress
    )
    all_scored = scored[BASE_ADAPTER]
    report.n_truncated = sum(1 for _, s in all_scored if s.truncated)
    report.forward_tokens = scorer.forward_tokens
    report.compute_seconds = scorer.compute_seconds
    report.load_seconds = scorer.load_seconds
    report.dtype = scorer.dtype_name
    report.accuracy = accuracy(all_scored)
    report.seconds = time.perf_counter() - wall
    report.finished_at = datetime.now().isoformat()
    if record_run:
        sink.write(score_runs=run_frame(report))
    return report
