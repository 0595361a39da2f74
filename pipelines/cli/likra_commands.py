"""Likra commands: train both heads with learning-curve checkpoints, evaluate runs, list them, export datasets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from likra.config import TrainConfig
from likra.evaluate import MODES
from pipelines.cli.options import Checked, config_options, config_values, db_option
from pipelines.cli.render import render
from warehouse.validation import Count, FiniteFloat

# Flags of `likra train`, by the TrainConfig field they set; type, default and help come from the field.
TRAIN_FLAGS = {
    "policy": "--policy",
    "sizes": "--sizes",
    "model": "--model",
    "dtype": "--dtype",
    "seed": "--seed",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "grad_accum": "--grad-accum",
    "epochs": "--epochs",
    "heads": "--heads",
    "train_splits": "--train-split",
    "also_train_on": "--also-train-on",
    "eval_split": "--eval-split",
    "holdout": "--holdout",
    "train_fewshot": "--train-fewshot",
    "other_benchmark": "--other-benchmark",
    "fewshot": "--fewshot",
    "eval_limit": "--eval-limit",
    "weights": "--w",
    "lora.r": "--lora-r",
    "lora.alpha": "--lora-alpha",
    "lora.dropout": "--lora-dropout",
}


@click.command()
@click.argument("benchmark")
@config_options(TrainConfig, TRAIN_FLAGS)
@click.option("--name", help="Run name (default: benchmark, policy and a hash of the settings, data and model).")
@click.option("--no-eval", is_flag=True, help="Train only; evaluate later with `likra evaluate RUN`.")
@db_option()
def train(benchmark: str, name: str | None, no_eval: bool, db: str | None, **settings) -> None:
    """Train Likra's positive and negative heads on BENCHMARK, checkpointing a learning curve, and evaluate
    every checkpoint in every scoring mode (`likra sql "SELECT * FROM likra_eval"`)."""
    from tqdm import tqdm

    from likra.config import train_config
    from likra.report import learning_curve
    from likra.workflow import train_benchmark
    from warehouse.db import connect_read_only

    config = train_config(**config_values(settings))
    bars: dict[str, tqdm] = {}

    def progress(head: str, n: int, loss: float) -> None:
        bar = bars.setdefault(head, tqdm(desc=f"{head} head", unit="ex", disable=None))
        bar.update(n)
        bar.set_postfix(loss=f"{loss:.3f}")

    with tqdm(desc="evaluating", unit="choice", disable=None) as scoring:
        report = train_benchmark(
            benchmark, config, db=db, name=name, evaluate=not no_eval, progress=progress, scored=scoring.update
        )
    for bar in bars.values():
        bar.close()
    training = report.training
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(training.skipped.items())) or "none"
    click.echo(
        f"run {report.run.run_id}: {training.n_train} training questions (policy {config.policy}; skipped: "
        f"{skipped}), {len(training.split.eval)} evaluation items ({training.split.eval_split}"
        f"{', held out' if training.split.holdout else ''}); "
        f"{'trained' if report.trained else 'all checkpoints existed'}"
        f" in {report.seconds:.1f}s; adapters in {report.run.out_dir}"
    )
    if report.evaluation:
        click.echo(
            f"evaluated {report.evaluation.n_items} items x {report.evaluation.adapters} adapters "
            f"({report.evaluation.n_cached} of {report.evaluation.n_scores} scores cached), "
            f"{report.run.fewshot}-shot; accuracy as acc / acc_norm, likra and negbase at w = 1:"
        )
        with connect_read_only(db) as con:
            click.echo(render(learning_curve(con, report.run.run_id)))
        click.echo(f"more: likra sql \"SELECT * FROM likra_eval WHERE run = '{report.run.run_id}'\"")


# Flags of `likra evaluate`: the evaluation settings of `likra train`, each changing the run's own when given.
EVALUATE_FLAGS = {path: TRAIN_FLAGS[path] for path in ("weights", "fewshot", "eval_limit")}


@click.command()
@click.argument("run")
@config_options(TrainConfig, EVALUATE_FLAGS, unset="(default: the run's setting)")
@click.option("--mode", "modes", multiple=True, type=click.Choice(MODES), help="Show only these modes (repeatable).")
@db_option()
def evaluate(run: str, modes: tuple[str, ...], db: str | None, **settings) -> None:
    """Score RUN's checkpoints on its evaluation items (cached scores cost nothing) and print its metrics."""
    import polars as pl

    from likra.config import train_config
    from likra.evaluate import evaluate_run
    from likra.runs import get_run, recorded_checkpoints
    from warehouse.db import connect_read_only
    from warehouse.sinks import WarehouseSink

    with connect_read_only(db) as con:
        found = get_run(con, run, db=db)
        checkpoints = recorded_checkpoints(con, found)
    update = config_values(settings)
    found = dataclasses.replace(found, config=train_config(**{**found.config.model_dump(), **update}))
    report = evaluate_run(found, checkpoints, WarehouseSink(db), db=db)
    click.echo(
        f"{run}: {report.n_items} items x {report.adapters} adapters, {report.n_cached} of {report.n_scores} "
        "scores cached"
    )
    with connect_read_only(db) as con:
        frame = con.execute(
            "SELECT n_examples, mode, w, fewshot, n_items, round(acc, 4) AS acc, "
            "round(acc_stderr, 4) AS acc_stderr, round(acc_norm, 4) AS acc_norm FROM likra_eval "
            "WHERE run = ? ORDER BY fewshot, mode, w, n_examples",
            [run],
        ).pl()
    if modes:
        frame = frame.filter(pl.col("mode").is_in(modes))
    click.echo(render(frame))


@click.command()
@db_option()
def runs(db: str | None) -> None:
    """List Likra runs: benchmark, policy, checkpoints, best accuracy."""
    from likra.runs import list_runs
    from warehouse.db import connect_read_only

    with connect_read_only(db) as con:
        click.echo(render(list_runs(con)))


@click.command()
@click.argument("benchmark")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dpo", "kto", "lm-eval"]),
    required=True,
    help="dpo: prompt/chosen/rejected pairs (DPO, ORPO, CPO); kto: prompt/completion/label rows; "
    "lm-eval: per-sample logs of a run (--run) in lm-eval's --log_samples layout.",
)
@click.option("--run", "run_id", help="The run whose training set (or, for lm-eval, evaluation) to export.")
@config_options(TrainConfig, {"policy": "--policy", "seed": "--seed"})  # without --run: the set `likra train` builds
@click.option("--mode", type=click.Choice(MODES), default="likra", show_default=True, help="lm-eval: scoring mode.")
@click.option(
    "--w",
    "weight",
    type=Checked(FiniteFloat, "W"),
    default=1.0,
    show_default=True,
    help="lm-eval: negative-head weight.",
)
@click.option("--n", "n_examples", type=Checked(Count, "N"), help="lm-eval: checkpoint size (default: the largest).")
@click.option("--out", type=click.Path(path_type=Path), help="Output path without suffix (default: exports/<name>).")
@click.option("--overwrite", is_flag=True, help="Replace export files that exist already (default: refuse).")
@db_option()
def export(
    benchmark: str,
    fmt: str,
    run_id: str | None,
    policy: str,
    seed: int,
    mode: str,
    weight: float,
    n_examples: int | None,
    out: Path | None,
    overwrite: bool,
    db: str | None,
) -> None:
    """Export BENCHMARK's training pairs for TRL (DPO/ORPO/KTO) or a run's per-sample logs for lm-eval."""
    from likra.exports import export_benchmark

    for path in export_benchmark(
        benchmark,
        fmt,
        db=db,
        run_id=run_id,
        policy=policy,
        seed=seed,
        mode=mode,
        w=weight,
        n_examples=n_examples,
        out=out,
        overwrite=overwrite,
    ):
        click.echo(str(path))
