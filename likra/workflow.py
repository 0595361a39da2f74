"""A Likra run, stage by stage: training set -> both heads, checkpoint by checkpoint -> evaluation.

`train_benchmark` composes the stages for `likra train`; the Dagster Likra assets call the same stage
functions one asset at a time. A run is named by its settings, training set and base model, so asking
again for a finished run trains nothing and evaluating it again reads the score cache; a run killed
while training continues from its last checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from likra.config import TrainConfig
from likra.data import TrainingSet, build_training_set, training_rows, training_set_frames
from likra.evaluate import EvalReport, evaluate_run
from likra.heads import Checkpoint, add_heads, saved_checkpoints, tokenizer_fingerprint
from likra.models import load_model, model_key
from likra.runs import (
    Run,
    RunError,
    check_run_name,
    check_same_settings,
    checkpoint_frame,
    default_name,
    find_run,
    run_frame,
    runs_dir,
)
from likra.train import checkpoint_sizes, learning_rate, train_head
from warehouse.db import connect_read_only
from warehouse.items import require_ingested
from warehouse.location import DbRef
from warehouse.sinks import Sink, WarehouseSink


@dataclass
class TrainReport:
    """What a `likra train` did."""

    run: Run
    training: TrainingSet
    checkpoints: list[Checkpoint] = field(default_factory=list)
    trained: bool = False  # False: every checkpoint existed already
    evaluation: EvalReport | None = None
    seconds: float = 0.0


def base_model_key(config: TrainConfig) -> str:
    """The key of the base model's weights and dtype, from its files (the model is not loaded)."""
    return model_key(config.model, config.dtype)


def check_sizes(training: TrainingSet, config: TrainConfig) -> None:
    """Refuse checkpoint sizes beyond the training examples the set holds."""
    examples = training.n_train * config.epochs
    if config.sizes and max(config.sizes) > examples:
        raise RunError(
            f"size {max(config.sizes)} is larger than the {examples} training examples of {training.benchmark!r} "
            f"({training.n_train} questions x {config.epochs} epoch(s); policy {config.policy} skipped "
            f"{sum(training.skipped.values())}): ask for sizes up to {examples}, or more epochs"
        )


def run_for_set(
    training: TrainingSet,
    config: TrainConfig,
    *,
    db: DbRef = None,
    name: str | None = None,
    model: str | None = None,
) -> tuple[Run, datetime]:
    """The run that trains on this set (named by its settings, set and base model key, computed from the model's
    files unless given) and when it started: now, or when a recorded run of the same name did."""
    if name is not None:
        check_run_name(name)
    model = model or base_model_key(config)
    run_id = name or default_name(training.benchmark, config, training.set_id, model)
    run = Run(run_id, training.benchmark, training.set_id, config, model, runs_dir(db) / run_id)
    started = datetime.now()
    with connect_read_only(db) as con:
        existing = find_run(con, run_id, db=db)
        if existing is not None:
            check_same_settings(existing, run)
            started = con.execute("SELECT started_at FROM likra_runs WHERE run_id = ?", [run_id]).fetchone()[0]
    return run, started


def prepare_run(
    benchmark: str, config: TrainConfig, *, db: DbRef = None, name: str | None = None
) -> tuple[Run, TrainingSet, datetime]:
    """The training set and the run that trains on it; (run, set, when the run started)."""
    if name is not None:
        check_run_name(name)
    with connect_read_only(db) as con:
        require_ingested(con, benchmark)  # before the base model is hashed (or converted, which takes a while)
    model = base_model_key(config)
    with connect_read_only(db) as con:
        training = build_training_set(con, benchmark, config)
    check_sizes(training, config)
    run, started = run_for_set(training, config, db=db, name=name, model=model)
    return run, training, started


def missing_sizes(run: Run, n_examples: int) -> dict[str, list[int]]:
    """Per head, the checkpoint sizes not saved yet."""
    done = {(c.head, c.n_examples) for c in saved_checkpoints(run.out_dir)}
    wanted = checkpoint_sizes(run.config.sizes, n_examples)
    return {head: [n for n in wanted if (head, n) not in done] for head in run.heads}


def train_heads(
    run: Run,
    rows: dict[str, list[tuple[str, str]]],
    sink: Sink,
    progress: Callable[[str, int, float], None] | None = None,
) -> list[Checkpoint]:
    """Train the run's heads (continuing after their last checkpoints); every checkpoint of the run."""
    config = run.config
    n_examples = len(next(iter(rows.values()))) * config.epochs
    if any(missing_sizes(run, n_examples).values()):
        loaded = load_model(config.model, dtype=config.dtype)
        if loaded.key != run.model:
            raise RunError(f"run {run.run_id} was trained on {run.model}, but {config.model!r} is {loaded.key} now")
        model = add_heads(loaded, config.lora, config.seed, run.heads)
        provenance = {
            "base_model": run.model,
            "tokenizer": tokenizer_fingerprint(loaded.tokenizer),
            "run_id": run.run_id,
            "benchmark": run.benchmark,
            "policy": config.policy,
            "set_id": run.set_id,
            "seed": config.seed,
            "lr": learning_rate(loaded, config),
            "config_hash": config.digest(),
        }
        for head in run.heads:
            train_head(
                model,
                head,
                rows[head],
                config,
                run.out_dir,
                provenance,
                base_name=config.model,
                on_checkpoint=lambda c: sink.write(likra_checkpoints=checkpoint_frame(run.run_id, [c])),
                progress=(lambda n, loss, head=head: progress(head, n, loss)) if progress else None,
            )
    return saved_checkpoints(run.out_dir)


def train_benchmark(
    benchmark: str,
    config: TrainConfig,
    *,
    db: DbRef = None,
    name: str | None = None,
    evaluate: bool = True,
    progress: Callable[[str, int, float], None] | None = None,
    scored: Callable[[int], None] | None = None,
) -> TrainReport:
    """Build the training set, train the heads with checkpoints, and (unless `evaluate` is False) score every
    checkpoint on the evaluation items; everything is recorded in the warehouse."""
    wall = time.perf_counter()
    run, training, started = prepare_run(benchmark, config, db=db, name=name)
    sink = WarehouseSink(db)
    sink.write(**training_set_frames(training, config), likra_runs=run_frame(run, started, None))
    with connect_read_only(db) as con:
        rows = {head: training_rows(con, training.set_id, head) for head in run.heads}
    trained = any(missing_sizes(run, training.n_train * config.epochs).values())
    checkpoints = train_heads(run, rows, sink, progress)
    sink.write(
        likra_checkpoints=checkpoint_frame(run.run_id, checkpoints), likra_runs=run_frame(run, started, datetime.now())
    )
    report = TrainReport(run, training, checkpoints, trained)
    if evaluate:
        report.evaluation = evaluate_run(run, checkpoints, sink, db=db, progress=scored)
    report.seconds = time.perf_counter() - wall
    return report
