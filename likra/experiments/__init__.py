"""Likra experiments E1-E6 (PAPER.md §8.2): each trains or reuses Likra runs, reads their metrics, and
writes a results table, PNG plots and a markdown report.

  learning-curve     E1: base, sft, likra, negbase accuracy against examples
  gain               E2: accuracy gained per example, Likra against SFT, in a fixed early window
  negative-types     E3: same-question distractors, other questions, other benchmarks, plausible / mined
  weight-sweep       E4: accuracy over the negative-head weight w
  likelihood-shift   E5: probability mass on gold, top distractor and the rest under each head
  dpo-baseline       E6: TRL's DPO on the same pairs, scored by the same engine
"""

from __future__ import annotations

from collections.abc import Callable

from likra.experiments.config import EXPERIMENTS, ExperimentConfig
from likra.experiments.store import ExperimentResult, Say, experiments_dir, save_experiment
from warehouse.errors import LikraError
from warehouse.location import DbRef
from warehouse.sinks import WarehouseSink


class UnknownExperimentError(LikraError):
    """An experiment name the toolkit does not have."""


def runner(name: str) -> Callable[..., ExperimentResult]:
    """The function that runs an experiment, by name."""
    if name not in EXPERIMENTS:
        raise UnknownExperimentError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    if name in ("learning-curve", "gain"):
        from likra.experiments.curves import gain, learning_curve

        return learning_curve if name == "learning-curve" else gain
    if name in ("negative-types", "weight-sweep"):
        from likra.experiments.sweeps import negative_types, weight_sweep

        return negative_types if name == "negative-types" else weight_sweep
    if name == "likelihood-shift":
        from likra.experiments.shift import likelihood_shift

        return likelihood_shift
    from likra.experiments.dpo import dpo_baseline

    return dpo_baseline


def run_experiment(
    name: str,
    benchmark: str,
    config: ExperimentConfig | None = None,
    *,
    db: DbRef = None,
    say: Say = None,
) -> ExperimentResult:
    """Run one experiment (cached runs and scores cost nothing) and store its results, plots and report."""
    config = config or ExperimentConfig()
    result = runner(name)(benchmark, config, db=db, say=say)
    save_experiment(result, WarehouseSink(db), experiments_dir(db) / result.experiment_id)
    return result


__all__ = ["EXPERIMENTS", "ExperimentConfig", "ExperimentResult", "run_experiment"]
