"""E1 learning curves and E2 gain per example (PAPER.md §5.3-5.5, §8.2).

E1 trains one run per seed (both heads, the configured policy) and reads base, sft, likra and negbase
accuracy at every size from `likra_eval` (w = 1). E2 turns those curves into accuracy gained per added
example between consecutive checkpoints (Likra per negative, SFT per positive), with the standard
error of each difference, and compares Likra with SFT over an early window fixed beforehand: from 0 to
the largest checkpoint of at most `gain_window` examples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import polars as pl

from likra.experiments import plots
from likra.experiments.config import ExperimentConfig
from likra.experiments.store import ExperimentResult, results_frame
from likra.workflow import TrainReport, train_benchmark
from warehouse.db import connect_read_only

CURVE_MODES = ("base", "sft", "likra", "negbase")


def train_seeds(benchmark: str, config: ExperimentConfig, *, db: str | os.PathLike[str] | None = None,
                policy: str | None = None, say: Callable[[str], None] | None = None) -> list[TrainReport]:
    """One evaluated run per seed (cached runs cost nothing)."""
    reports = []
    for seed in config.seeds:
        settings = config.train.model_copy(update={"seed": seed, "heads": "both",
                                                   **({"policy": policy} if policy else {})})
        if say:
            say(f"run: policy {settings.policy}, seed {seed}")
        reports.append(train_benchmark(benchmark, settings, db=db))
    return reports


def eval_results(db: str | os.PathLike[str] | None, reports: list[TrainReport], modes=CURVE_MODES, series: str | None = None,
                 w: float = 1.0) -> pl.DataFrame:
    """acc and acc_norm of the runs per mode and size (at weight w), as result rows."""
    rows = []
    with connect_read_only(db) as con:
        for report in reports:
            found = con.execute("SELECT mode, n_examples, acc, acc_stderr, acc_norm, n_items FROM likra_eval "
                                "WHERE run = ? AND fewshot = ? AND (w IS NULL OR w = ?) AND list_contains(?, mode)",
                                [report.run.run_id, report.run.config.fewshot, w, list(modes)]).fetchall()
            for mode, n, acc, se, norm, n_items in found:
                common = {"series": series or mode, "seed": report.run.config.seed, "n_examples": n,
                          "n_items": n_items, "run_id": report.run.run_id, "w": w if mode in ("likra", "negbase") else None}
                rows.append({**common, "metric": "acc", "value": acc, "stderr": se})
                rows.append({**common, "metric": "acc_norm", "value": norm,
                             "stderr": math.sqrt(norm * (1 - norm) / n_items)})
    return results_frame(rows)


def learning_curve(benchmark: str, config: ExperimentConfig, *, db: str | os.PathLike[str] | None = None,
                   say: Callable[[str], None] | None = None) -> ExperimentResult:
    """E1: base, sft, likra and negbase accuracy against examples, one line per mode."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    results = eval_results(db, reports)
    acc = results.filter(pl.col("metric") == "acc")
    final = acc.filter(pl.col("n_examples") == acc["n_examples"].max())
    summary = {f"final_acc/{mode}": round(float(part["value"].mean()), 4)
               for (mode,), part in final.group_by("series")}
    title = f"{benchmark}: {config.train.policy} negatives, {config.train.model}"
    report = "\n\n".join([
        f"# Learning curves: {benchmark}",
        f"Policy `{config.train.policy}`, seeds {config.seeds}, base model `{config.train.model}`; accuracy (acc) "
        "with its binomial standard error per size and mode (likra and negbase at w = 1).",
        plots.table(wide(acc)), "![learning curves](learning_curve.png)"])
    return ExperimentResult("learning-curve", benchmark, config, results, [r.run.run_id for r in reports],
                            {"learning_curve.png": plots.curves(acc, CURVE_MODES, title)}, report, summary)


def wide(acc: pl.DataFrame) -> pl.DataFrame:
    """Accuracy ± standard error per size (rows) and series (columns), averaged over seeds."""
    cells = acc.group_by("n_examples", "series").agg(pl.col("value").mean(), pl.col("stderr").mean())
    cells = cells.with_columns(pl.format("{} ± {}", pl.col("value").round(3), pl.col("stderr").round(3)).alias("cell"))
    return cells.pivot(on="series", index="n_examples", values="cell").sort("n_examples")


def gain_table(acc: pl.DataFrame, window: int) -> tuple[pl.DataFrame, dict]:
    """Accuracy gained per added example between consecutive checkpoints, per series, and the early-window
    comparison of likra (and negbase) with sft.

    `acc` holds one accuracy (and standard error) per series and size (means over seeds where there are
    several). The window runs from 0 to the largest size not above `window`; a ratio is reported only
    where SFT gained, otherwise it is undefined and said so."""
    mean = acc.group_by("series", "n_examples").agg(pl.col("value").mean(), pl.col("stderr").mean()).sort(
        "series", "n_examples")
    pairs = []
    for (series,), part in mean.group_by("series", maintain_order=True):
        points = part.rows(named=True)
        for low, high in zip(points, points[1:]):
            step = high["n_examples"] - low["n_examples"]
            pairs.append({"series": series, "from": low["n_examples"], "to": high["n_examples"],
                          "gain_per_example": (high["value"] - low["value"]) / step,
                          "stderr": math.sqrt(low["stderr"] ** 2 + high["stderr"] ** 2) / step})
    end = max((n for n in mean["n_examples"].to_list() if n <= window), default=0)
    summary: dict = {"window": [0, end]}
    at = {(s, n): (v, e) for s, n, v, e in mean.select("series", "n_examples", "value", "stderr").iter_rows()}
    for series in ("sft", "likra", "negbase"):
        if (series, 0) in at and (series, end) in at and end > 0:
            (v0, e0), (v1, e1) = at[(series, 0)], at[(series, end)]
            summary[f"{series}_gain_per_example"] = (v1 - v0) / end
            summary[f"{series}_gain_stderr"] = math.sqrt(e0 ** 2 + e1 ** 2) / end
    sft = summary.get("sft_gain_per_example")
    for series in ("likra", "negbase"):
        gained = summary.get(f"{series}_gain_per_example")
        if gained is not None and sft is not None:
            summary[f"{series}_over_sft"] = gained / sft if sft > 0 else None
    if sft is not None and sft <= 0:
        summary["note"] = "SFT gained nothing in the window, so the per-example ratio is undefined"
    return pl.DataFrame(pairs, schema={"series": pl.String, "from": pl.Int64, "to": pl.Int64,
                                       "gain_per_example": pl.Float64, "stderr": pl.Float64}), summary


def gain(benchmark: str, config: ExperimentConfig, *, db: str | os.PathLike[str] | None = None,
         say: Callable[[str], None] | None = None) -> ExperimentResult:
    """E2: accuracy gained per example, Likra per negative against SFT per positive, and their early-window ratio."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    acc = eval_results(db, reports).filter(pl.col("metric") == "acc")
    pairs, summary = gain_table(acc, config.gain_window)
    rows = [{"series": r["series"], "n_examples": r["to"], "metric": "gain_per_example", "value": r["gain_per_example"],
             "stderr": r["stderr"]} for r in pairs.iter_rows(named=True)]
    points = pairs.with_columns(pl.col("to").alias("n_examples"), pl.col("gain_per_example").alias("value"),
                                pl.lit(0).alias("seed"))
    report = "\n\n".join([
        f"# Accuracy gained per example: {benchmark}",
        f"Between consecutive checkpoints, in accuracy per added example (Likra per negative, SFT per positive), "
        f"with the standard error of the difference. Early window, fixed before looking: 0 to {summary['window'][1]} "
        f"examples (the largest checkpoint of at most {config.gain_window}).",
        plots.table(pairs, digits=5),
        "Window: " + ", ".join(f"{k} = {v:.5f}" if isinstance(v, float) else f"{k} = {v}" for k, v in summary.items()),
        "![gain per example](gain.png)"])
    return ExperimentResult("gain", benchmark, config, results_frame(rows), [r.run.run_id for r in reports],
                            {"gain.png": plots.curves(points, ("sft", "likra", "negbase"), f"{benchmark}: gain per example",
                                                      "accuracy gained per added example")},
                            report, summary)
