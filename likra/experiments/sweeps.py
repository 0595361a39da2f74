"""E3 negative types at equal N, and E4 the negative-head weight (PAPER.md §4, §5.6, §8.2).

E3 trains one run per policy and seed with the same sizes and compares likra and negbase accuracy:
same-question distractors (`random`) against other questions' answers and other benchmarks' text, and
the toolkit's pairs `most_plausible` / `least_plausible` and `mined_near_miss` / `mined_far`. A policy
whose data is missing (no graded negatives, no other benchmark) is reported as skipped with the reason.
E4 re-reads the learning-curve runs at a grid of weights w (scores are cached, so only SQL runs).
"""

from __future__ import annotations

import polars as pl

from likra.evaluate import evaluate_run
from likra.experiments import plots
from likra.experiments.config import ExperimentConfig
from likra.experiments.curves import eval_results, train_seeds
from likra.experiments.store import ExperimentResult, Say, results_frame
from likra.policies import PolicyError
from likra.runs import recorded_checkpoints
from warehouse.db import connect_read_only
from warehouse.location import DbRef
from warehouse.sinks import WarehouseSink


def negative_types(benchmark: str, config: ExperimentConfig, *, db: DbRef = None, say: Say = None) -> ExperimentResult:
    """E3: likra and negbase accuracy against examples, one line per negative policy."""
    frames, runs, skipped = [], [], {}
    for policy in config.policies:
        try:
            reports = train_seeds(benchmark, config, db=db, policy=policy, say=say)
        except PolicyError as exc:
            skipped[policy] = str(exc)
            continue
        runs += [r.run.run_id for r in reports]
        for mode in ("likra", "negbase"):
            frames.append(
                eval_results(db, reports, modes=(mode,), series=policy)
                .filter(pl.col("metric") == "acc")
                .with_columns(pl.lit(f"acc_{mode}").alias("metric"))
            )
        if policy == config.policies[0]:
            frames.append(
                eval_results(db, reports, modes=("sft",), series=f"sft ({policy} run)")
                .filter(pl.col("metric") == "acc")
                .with_columns(pl.lit("acc_likra").alias("metric"))
            )
    results = pl.concat(frames) if frames else results_frame([])
    largest = results["n_examples"].max() if not results.is_empty() else None
    final = results.filter(pl.col("n_examples") == largest)
    summary = {
        f"{metric}/{series}": round(float(part["value"].mean()), 4)
        for (series, metric), part in final.group_by("series", "metric")
    }
    summary["skipped"] = skipped
    table = (
        final.group_by("series", "metric", maintain_order=True)  # acc before acc_norm, as the rows were made
        .agg(pl.col("value").mean(), pl.col("stderr").mean())
        .with_columns(
            pl.format("{} ± {}", pl.col("value").round(3), pl.col("stderr").round(3)).alias("cell"),
            pl.col("metric").str.replace("acc_", "").alias("mode"),
        )
    )
    table = table.pivot(on="mode", index="series", values="cell").sort("series") if not table.is_empty() else table
    series = [p for p in config.policies if p not in skipped] + [f"sft ({config.policies[0]} run)"]
    report = "\n\n".join(
        [
            f"# Negative types at equal N: {benchmark}",
            f"Accuracy at {largest} examples per head, likra and negbase at w = 1, mean over seeds {config.seeds}.",
            plots.table(table),
            "Skipped: " + ("; ".join(f"{p}: {why}" for p, why in skipped.items()) or "none"),
            "![negative types](negative_types.png)",
        ]
    )
    png = (
        plots.panels(
            results, "metric", ["acc_likra", "acc_negbase"], series, f"{benchmark}: negative types", "accuracy"
        )
        if not results.is_empty()
        else b""
    )
    return ExperimentResult(
        "negative-types", benchmark, config, results, runs, {"negative_types.png": png} if png else {}, report, summary
    )


def weight_sweep(benchmark: str, config: ExperimentConfig, *, db: DbRef = None, say: Say = None) -> ExperimentResult:
    """E4: likra and negbase accuracy over a grid of negative-head weights w, per size; w = 0 must equal sft."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    for report in reports:
        with connect_read_only(db) as con:
            checkpoints = recorded_checkpoints(con, report.run)
        evaluate_run(report.run, checkpoints, WarehouseSink(db), db=db, weights=config.weights)
    frames = [eval_results(db, reports, modes=("likra", "negbase"), w=w) for w in config.weights]
    results = pl.concat(frames).filter(pl.col("metric") == "acc")
    sft = eval_results(db, reports, modes=("sft",)).filter(pl.col("metric") == "acc")
    at_zero = results.filter((pl.col("series") == "likra") & (pl.col("w") == 0.0))
    joined = at_zero.join(sft, on=["seed", "n_examples"], suffix="_sft")
    summary = {"w0_equals_sft": bool((joined["value"] == joined["value_sft"]).all()) if joined.height else None}
    trained = results.filter(pl.col("n_examples") > 0)
    for (series, n), part in trained.group_by("series", "n_examples"):
        means = part.group_by("w").agg(pl.col("value").mean()).sort("value", "w", descending=[True, False])
        summary[f"best_w/{series}/N={n}"] = float(means["w"][0])
    table = (
        trained.filter(pl.col("series") == "likra")
        .group_by("n_examples", "w")
        .agg(pl.col("value").mean())
        .sort("w")
        .pivot(on="w", index="n_examples", values="value")
        .sort("n_examples")
    )
    report = "\n\n".join(
        [
            f"# Negative-head weight: {benchmark}",
            "likra accuracy (score = log p+ - w log p-) per size (rows) and w (columns), "
            f"mean over seeds {config.seeds}. "
            f"At w = 0 likra is sft: {summary['w0_equals_sft']}.",
            plots.table(table),
            "![weight sweep](weight_sweep.png)",
        ]
    )
    return ExperimentResult(
        "weight-sweep",
        benchmark,
        config,
        results,
        [r.run.run_id for r in reports],
        {
            "weight_sweep.png": plots.by_weight(
                trained.filter(pl.col("series") == "likra"), f"{benchmark}: likra accuracy against w"
            )
        },
        report,
        summary,
    )
