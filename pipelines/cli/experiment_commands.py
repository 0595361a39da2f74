"""`likra experiment`: the paper's experiments (and the toolkit's extensions) as one command each."""

from __future__ import annotations

import click

from likra.experiments.config import EXPERIMENTS, ExperimentConfig
from pipelines.cli.likra_commands import TRAIN_FLAGS
from pipelines.cli.options import config_options, config_values, db_option

# The experiment's own flags, then every `likra train` flag for the runs it trains.
EXPERIMENT_FLAGS = {
    "seeds": "--seeds",
    "policies": "--policies",
    "weights": "--weights",
    "paper_window": "--paper-window",
    "dpo_beta": "--dpo-beta",
    "dpo_lr": "--dpo-lr",
    **{f"train.{path}": flag for path, flag in TRAIN_FLAGS.items() if path not in ("weights", "seed", "heads")},
}  # an experiment sets these itself


@click.command()
@click.argument("name", type=click.Choice(EXPERIMENTS))
@click.argument("benchmark")
@config_options(ExperimentConfig, EXPERIMENT_FLAGS)
@db_option()
def experiment(name: str, benchmark: str, db: str | None, **settings) -> None:
    """Run experiment NAME on BENCHMARK: train (or reuse) its Likra runs, write a results table, plots and a
    markdown report. Reruns reuse every trained head and cached score.

    \b
      learning-curve     base, sft, likra, negbase accuracy against examples
      gain               accuracy gained per example, Likra against SFT, in a fixed early window
      negative-types     negative policies compared at equal N (mines first if a mined policy needs it)
      weight-sweep       accuracy over the negative-head weight w
      likelihood-shift   probability mass on gold, top distractor and the rest under each head
      dpo-baseline       TRL's DPO on the same pairs, scored by the same engine
    """
    from likra.experiments import run_experiment
    from likra.experiments.config import experiment_config

    config = experiment_config(**config_values(settings))
    if name == "negative-types" and any(p.startswith("mined_") for p in config.policies):
        ensure_mined(benchmark, config, db)
    result = run_experiment(name, benchmark, config, db=db, say=lambda message: click.echo(f"  {message}"))
    click.echo(f"{name} on {benchmark}: experiment {result.experiment_id}, runs {', '.join(result.runs) or 'none'}")
    for key, value in result.summary.items():
        click.echo(f"  {key}: {round(value, 4) if isinstance(value, float) else value}")
    click.echo(f"report: {result.output_dir / 'report.md'}")


def ensure_mined(benchmark: str, config: ExperimentConfig, db: str | None) -> None:
    """Mine the benchmark's negatives with the runs' base model when it has none yet."""
    from mining.config import MiningConfig
    from mining.run import mine_benchmark
    from warehouse.db import connect_read_only

    with connect_read_only(db) as con:
        mined = con.execute("SELECT count(*) FROM graded_negatives WHERE benchmark = ?", [benchmark]).fetchone()[0]
    if not mined:
        click.echo(f"  mining {benchmark} first (the mined policies read its graded negatives)")
        mine_benchmark(benchmark, db=db, config=MiningConfig(scorer_model=config.train.model, dtype=config.train.dtype))
