"""The `likra` command line.

ingest, benchmarks, sql     the warehouse: benchmarks in, read-only SQL out
warehouse copy              the warehouse moved to another backend (a DuckDB file into DuckLake)
warehouse pool              the Dagster writer pool sized for the warehouse's backend
score                       base-model log-likelihoods of every choice, acc and acc_norm
mine, negatives             near-miss negatives: mine and grade them, browse them
train, evaluate, runs       Likra: two LoRA heads trained with learning-curve checkpoints, evaluated in every mode
export                      training pairs for TRL (DPO/ORPO/KTO), per-sample logs for lm-eval
experiment                  E1-E6: learning curves, gain, negative types, weight sweep, likelihood shift, DPO
demo                        the main job: the whole pipeline on the bundled demo set, through Dagster
"""

from __future__ import annotations

import logging
import sys

import click

from pipelines.cli.experiment_commands import experiment
from pipelines.cli.likra_commands import evaluate, export, runs, train
from pipelines.cli.mining_commands import mine, negatives
from pipelines.cli.options import db_option
from pipelines.cli.render import render
from pipelines.cli.scoring_commands import score
from pipelines.cli.warehouse_commands import benchmarks, ingest, sql, warehouse
from pipelines.quiet import quiet_libraries
from warehouse.errors import LikraError, ReadOnlyViolation


class _Group(click.Group):
    """Turns user errors into one line on stderr: exit 2 for a bad command line or refused SQL, 1 for anything
    else."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # click's own message, without the usage block around it
            command = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see {command} --help)", err=True)
            sys.exit(2)
        except ReadOnlyViolation as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except LikraError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted (Ctrl-C)", err=True)
            sys.exit(130)


class _Stderr(logging.Handler):
    """Notices (e.g. waiting for another process's lock) as plain lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _show_notices() -> None:
    """The warehouse's and the models' notices (a lock waited for, a model converted once) on stderr."""
    for name in ("warehouse", "likra"):
        logger = logging.getLogger(name)
        if not any(isinstance(handler, _Stderr) for handler in logger.handlers):
            logger.addHandler(_Stderr(logging.INFO))
            logger.propagate = False


@click.group(cls=_Group)
def main() -> None:
    """Mine near-miss negatives from multiple-choice benchmarks and train Likra models on them."""
    quiet_libraries()
    _show_notices()


@click.command()
@click.option("--benchmark", default="demo", show_default=True, help="The benchmark partition to run.")
@click.option(
    "--data",
    type=click.Path(file_okay=False, exists=True),
    help="A folder of release files, one subfolder per benchmark (as ../shared/data/benchmarks).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Items per split of a real benchmark (default 200).")
@db_option()
def demo(benchmark: str, data: str | None, limit: int | None, db: str | None) -> None:
    """The main job: the whole pipeline for one benchmark (default: the bundled demo set) through Dagster,
    from ingestion to the Likra learning curve, then a summary."""
    from pipelines.demo import run_demo

    run_demo(db, echo=click.echo, render=render, benchmark=benchmark, data=data, limit=limit)


for command in (
    ingest,
    benchmarks,
    sql,
    warehouse,
    score,
    mine,
    negatives,
    train,
    evaluate,
    runs,
    export,
    experiment,
    demo,
):
    main.add_command(command)
