"""E1 learning curves and E2 gain per example (PAPER.md §5.3-5.5, §8.2).

E1 trains one run per seed (both heads, the configured policy) and reads base, sft, likra and negbase
accuracy (acc and acc_norm) at every size from `likra_eval` (w = 1). E2 turns those curves into accuracy
gained per added example between consecutive checkpoints (Likra per negative, SFT per positive), paired
over items and pooled over seeds, and compares Likra with SFT in the paper's window (64 -> 128) and over
the whole curve (first checkpoint to last).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from likra.experiments import plots
from likra.experiments.config import ExperimentConfig
from likra.experiments.paired import item_outcomes, paired_table, slope
from likra.experiments.store import ExperimentResult, Say, accuracy_rows, results_frame
from likra.workflow import TrainReport, train_benchmark
from warehouse.db import connect_read_only
from warehouse.location import DbRef

CURVE_MODES = ("base", "sft", "likra", "negbase")
GAIN_SERIES = ("sft", "likra", "negbase")
# The paper's claims as paired differences: Likra beats SFT at equal N; negatives alone come close to Likra.
CURVE_COMPARISONS = (("likra", "sft"), ("negbase", "likra"))


def train_seeds(
    benchmark: str,
    config: ExperimentConfig,
    *,
    db: DbRef = None,
    policy: str | None = None,
    say: Say = None,
) -> list[TrainReport]:
    """One evaluated run per seed (cached runs cost nothing)."""
    reports = []
    for seed in config.seeds:
        settings = config.train.model_copy(
            update={"seed": seed, "heads": "both", **({"policy": policy} if policy else {})}
        )
        if say:
            say(f"run: policy {settings.policy}, seed {seed}")
        reports.append(train_benchmark(benchmark, settings, db=db))
    return reports


def eval_results(
    db: DbRef,
    reports: list[TrainReport],
    modes=CURVE_MODES,
    series: str | None = None,
    w: float = 1.0,
) -> pl.DataFrame:
    """acc and acc_norm of the runs per mode and size (at weight w), as result rows."""
    rows = []
    with connect_read_only(db) as con:
        for report in reports:
            found = con.execute(
                "SELECT mode, n_examples, acc, acc_stderr, acc_norm, n_items FROM likra_eval "
                "WHERE run = ? AND fewshot = ? AND (w IS NULL OR w = ?) AND list_contains(?, mode)",
                [report.run.run_id, report.run.fewshot, w, list(modes)],
            ).fetchall()
            for mode, n, acc, se, norm, n_items in found:
                common = {
                    "series": series or mode,
                    "seed": report.run.config.seed,
                    "n_examples": n,
                    "n_items": n_items,
                    "run_id": report.run.run_id,
                    "w": w if mode in ("likra", "negbase") else None,
                }
                rows += accuracy_rows(common, acc, norm, n_items, acc_stderr=se)
    return results_frame(rows)


def run_outcomes(db: DbRef, reports: list[TrainReport]) -> pl.DataFrame:
    """Item outcomes of the runs, each at its own evaluation context, series named by mode (w = 1)."""
    with connect_read_only(db) as con:
        return item_outcomes(
            con, [r.run.run_id for r in reports], fewshot={r.run.run_id: r.run.fewshot for r in reports}
        )


def paired_section(outcomes: pl.DataFrame, comparisons: Sequence[tuple[str, str]], seeds: Sequence[int]) -> str:
    """A report's paired differences, acc_norm and acc, each estimate with its standard error."""
    return "\n\n".join(
        [
            f"Paired differences at equal N (the same items and seeds {list(seeds)}, per-item means over the seeds; "
            "± one standard error over the items):",
            *(
                f"{metric}:\n\n" + plots.table(paired_table(outcomes, comparisons, metric))
                for metric in ("acc_norm", "acc")
            ),
        ]
    )


def learning_curve(benchmark: str, config: ExperimentConfig, *, db: DbRef = None, say: Say = None) -> ExperimentResult:
    """E1: base, sft, likra and negbase accuracy against examples, one line per mode, and the paired
    differences the paper's claims rest on."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    results = eval_results(db, reports)
    acc = results.filter(pl.col("metric") == "acc")
    final = results.filter(pl.col("n_examples") == results["n_examples"].max())
    summary = {
        f"final_{metric}/{mode}": round(float(part["value"].mean()), 4)
        for (mode, metric), part in final.group_by("series", "metric")
    }
    title = f"{benchmark}: {config.train.policy} negatives, {config.train.model}"
    report = "\n\n".join(
        [
            f"# Learning curves: {benchmark}",
            f"Policy `{config.train.policy}`, seeds {config.seeds}, base model `{config.train.model}`, "
            f"{reports[0].run.fewshot}-shot evaluation; accuracy with its binomial standard error per size and mode "
            "(likra and negbase at w = 1; at 0 examples the heads are untrained and equal the base model, so likra "
            "ties every choice and takes the first).",
            "acc (argmax of the score):",
            plots.table(wide(acc)),
            "acc_norm (argmax of the score per answer character):",
            plots.table(wide(results.filter(pl.col("metric") == "acc_norm"))),
            paired_section(run_outcomes(db, reports), CURVE_COMPARISONS, config.seeds),
            "![learning curves](learning_curve.png)",
        ]
    )
    return ExperimentResult(
        "learning-curve",
        benchmark,
        config,
        results,
        [r.run.run_id for r in reports],
        {"learning_curve.png": plots.curves(acc, CURVE_MODES, title)},
        report,
        summary,
    )


def wide(acc: pl.DataFrame, order: Sequence[str] = CURVE_MODES) -> pl.DataFrame:
    """Accuracy ± standard error per size (rows) and series (columns, those of `order` first, then the rest by
    name), averaged over seeds."""
    cells = acc.group_by("n_examples", "series").agg(pl.col("value").mean(), pl.col("stderr").mean())
    cells = cells.with_columns(pl.format("{} ± {}", pl.col("value").round(3), pl.col("stderr").round(3)).alias("cell"))
    table = cells.pivot(on="series", index="n_examples", values="cell").sort("n_examples")
    rest = sorted(c for c in table.columns if c not in ("n_examples", *order))
    return table.select("n_examples", *[c for c in order if c in table.columns], *rest)


def gain_table(
    outcomes: pl.DataFrame, paper_window: tuple[int, int], metric: str = "acc", series: Sequence[str] = GAIN_SERIES
) -> tuple[pl.DataFrame, dict]:
    """Accuracy gained per added example between consecutive checkpoints, per series, and two windows: the
    paper's (64 -> 128 by default) and the whole curve from the first checkpoint to the last.

    Gains are paired over items and pooled over seeds (`likra.experiments.paired`). The 0-example point is
    left out of the windows: there the heads are untrained and likra at w = 1 ties every choice, a dip no
    training made. A ratio to sft is given only where sft gained."""
    sizes = sorted(n for n in outcomes["n_examples"].unique().to_list() if n > 0)
    pairs = []
    for name in series:
        for low, high in zip(sizes, sizes[1:]):
            found = slope(outcomes, name, low, high, metric)
            pairs.append(
                {"series": name, "from": low, "to": high, "gain_per_example": found.value, "stderr": found.stderr}
            )
    summary: dict = {"metric": metric}
    windows = {"paper": tuple(paper_window), "curve": (sizes[0], sizes[-1]) if len(sizes) > 1 else None}
    for label, window in windows.items():
        if window is None or not set(window) <= set(sizes):
            summary[f"{label}_window"] = None
            continue
        low, high = window
        summary[f"{label}_window"] = [low, high]
        gains = {name: slope(outcomes, name, low, high, metric) for name in series}
        for name, found in gains.items():
            summary[f"{label}/{name}_gain_per_example"] = found.value
            summary[f"{label}/{name}_gain_stderr"] = found.stderr
        sft = gains["sft"].value
        for name in series[1:]:
            summary[f"{label}/{name}_over_sft"] = gains[name].value / sft if sft > 0 else None
        if sft <= 0:
            summary[f"{label}/note"] = "SFT gained nothing in this window, so the per-example ratio is undefined"
    return pl.DataFrame(
        pairs,
        schema={
            "series": pl.String,
            "from": pl.Int64,
            "to": pl.Int64,
            "gain_per_example": pl.Float64,
            "stderr": pl.Float64,
        },
    ), summary


def gain(benchmark: str, config: ExperimentConfig, *, db: DbRef = None, say: Say = None) -> ExperimentResult:
    """E2: accuracy gained per example, Likra per negative against SFT per positive, in the paper's window and
    over the whole curve."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    outcomes = run_outcomes(db, reports)
    pairs, summary = gain_table(outcomes, tuple(config.paper_window))
    rows = [
        {
            "series": r["series"],
            "n_examples": r["to"],
            "metric": "gain_per_example",
            "value": r["gain_per_example"],
            "stderr": r["stderr"],
        }
        for r in pairs.iter_rows(named=True)
    ]
    points = pairs.with_columns(
        pl.col("to").alias("n_examples"), pl.col("gain_per_example").alias("value"), pl.lit(0).alias("seed")
    )
    report = "\n\n".join(
        [
            f"# Accuracy gained per example: {benchmark}",
            "Between consecutive checkpoints, in accuracy (acc) per added example (Likra per negative, SFT per "
            f"positive), paired over the same items and pooled over seeds {config.seeds}, with standard errors. "
            f"Windows: the paper's ({config.paper_window[0]} -> {config.paper_window[1]}) and the whole curve from the "
            "first checkpoint to the last (0 examples is left out: untrained heads tie every choice under likra).",
            plots.table(pairs, digits=5),
            "Windows: "
            + ", ".join(f"{k} = {v:.5f}" if isinstance(v, float) else f"{k} = {v}" for k, v in summary.items()),
            "![gain per example](gain.png)",
        ]
    )
    return ExperimentResult(
        "gain",
        benchmark,
        config,
        results_frame(rows),
        [r.run.run_id for r in reports],
        {
            "gain.png": plots.curves(
                points, GAIN_SERIES, f"{benchmark}: gain per example", "accuracy gained per added example"
            )
        },
        report,
        summary,
    )
