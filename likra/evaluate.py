"""Evaluating a run: every choice of its evaluation items scored under the base model and each checkpoint's
heads, in one multi-adapter pass of the scoring engine, through its cache; metrics are SQL (`likra_eval`).

Scores are stored per choice in `choice_scores` with the adapter's key (`positive@<hash>`), so
evaluating an unchanged adapter again reads the cache and loads no model. `mode_scores` is the
combination the `likra_eval` view computes, written out once in Python for exports and tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from likra.data import eval_items, eval_requests
from likra.heads import Checkpoint, CheckpointError, peft_name, with_adapters
from likra.models import load_model
from likra.runs import Run, weights_frame
from likra.scoring.cached import CachedScorer, score_chunks
from likra.scoring.store import BASE_ADAPTER
from warehouse.db import connect_read_only
from warehouse.location import DbRef
from warehouse.sinks import Sink

MODES = ("base", "sft", "likra", "negbase", "posbase")


@dataclass
class EvalReport:
    """What an evaluation scored: items, adapters, and how many choice scores came from the cache."""

    run_id: str
    n_items: int
    adapters: int
    n_scores: int
    n_cached: int
    forward_tokens: int
    compute_seconds: float


def mode_scores(mode: str, base: float, pos: float | None, neg: float | None, w: float = 1.0) -> float | None:
    """A choice's score under a scoring mode (None where the run lacks the head the mode needs)."""
    if mode == "base":
        return base
    if mode == "sft":
        return pos
    if mode == "posbase":
        return None if pos is None else pos - base
    if neg is None or (mode == "likra" and pos is None):
        return None
    return (pos if mode == "likra" else base) - w * neg


def evaluate_run(
    run: Run,
    checkpoints: Sequence[Checkpoint],
    sink: Sink,
    *,
    db: DbRef = None,
    progress: Callable[[int], None] | None = None,
    weights: Sequence[float] | None = None,
) -> EvalReport:
    """Score the run's evaluation items under the base model and every checkpoint; record the weights w."""
    config = run.config
    with connect_read_only(db) as con:
        items = eval_items(con, run.set_id)
        if config.eval_limit:
            items = items[: config.eval_limit]
        requests = eval_requests(con, run.set_id, items, run.fewshot)
    scorer = CachedScorer(
        db,
        model=config.model,
        dtype=config.dtype,
        loader=lambda: with_adapters(load_model(config.model, dtype=config.dtype), list(checkpoints)),
    )
    if scorer.key != run.model:
        raise CheckpointError(
            f"run {run.run_id} was trained on base model {run.model!r}, but {config.model!r} is "
            f"{scorer.key!r} now: its weights changed"
        )
    adapters: dict[str, str | None] = {BASE_ADAPTER: None, **{c.adapter: peft_name(c.adapter) for c in checkpoints}}
    scored, hits = score_chunks(
        scorer, requests, adapters, run.fewshot, f"likra-{run.run_id}-{uuid.uuid4().hex[:8]}", sink, progress=progress
    )
    sink.write(likra_weights=weights_frame(run.run_id, list(weights or config.weights)))
    return EvalReport(
        run.run_id,
        len(items),
        len(adapters),
        sum(len(v) for v in scored.values()),
        hits,
        scorer.forward_tokens,
        scorer.compute_seconds,
    )
