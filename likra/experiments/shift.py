"""E5 likelihood shift (PAPER.md §5.7, §8.2): where each head puts its probability mass among the choices.

Per evaluation item and size, the softmax over the choices' log-likelihoods under the base model, the
positive head and the negative head; the mass on the gold answer, on the most plausible distractor (the
wrong choice the base model finds most likely) and on the rest, averaged over items. Also the mean
change of the top distractor's log-likelihood from the base model to each head. The paper's reading:
SFT barely lowers plausible wrong answers; the negative head puts its mass on them.
"""

from __future__ import annotations

import polars as pl

from likra.experiments import plots
from likra.experiments.config import ExperimentConfig
from likra.experiments.curves import train_seeds
from likra.experiments.store import ExperimentResult, Say, results_frame
from warehouse.db import connect_read_only
from warehouse.location import DbRef

HEADS = {"base": "base", "positive": "pos", "negative": "neg"}
CATEGORIES = ("gold", "top_distractor", "rest")


def choice_masses(choices: pl.DataFrame) -> pl.DataFrame:
    """Per size and item: the mass each head puts on the gold answer, the top distractor and the rest.

    `choices` has n_examples, item_id, choice, gold, base, pos, neg (one row per choice)."""
    item = ["n_examples", "item_id"]
    top = (
        choices.filter(pl.col("choice") != pl.col("gold"))
        .sort("base", "choice", descending=[True, False])
        .group_by(item, maintain_order=True)
        .agg(pl.col("choice").first().alias("top"))
    )
    frame = choices.join(top, on=item)
    masses = []
    for head, column in HEADS.items():
        weight = (pl.col(column) - pl.col(column).max().over(item)).exp()
        share = weight / weight.sum().over(item)
        masses.append(
            frame.with_columns(share.alias("mass"))
            .group_by(item)
            .agg(
                pl.col("mass").filter(pl.col("choice") == pl.col("gold")).sum().alias("gold"),
                pl.col("mass").filter(pl.col("choice") == pl.col("top")).sum().alias("top_distractor"),
                (
                    pl.col(column).filter(pl.col("choice") == pl.col("top")).first()
                    - pl.col("base").filter(pl.col("choice") == pl.col("top")).first()
                ).alias("dlogp_top"),
            )
            .with_columns(pl.lit(head).alias("head"), (1 - pl.col("gold") - pl.col("top_distractor")).alias("rest"))
        )
    return pl.concat(masses)


def likelihood_shift(
    benchmark: str,
    config: ExperimentConfig,
    *,
    db: DbRef = None,
    say: Say = None,
) -> ExperimentResult:
    """E5: probability mass on gold, top distractor and the rest under each head, across sizes."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    rows = []
    for report in reports:
        with connect_read_only(db) as con:
            choices = con.execute(
                "SELECT c.n_examples, c.item_id, c.choice, i.gold, c.base, coalesce(c.pos, c.base) AS pos, "
                "coalesce(c.neg, c.base) AS neg FROM likra_eval_choices c JOIN items i USING (item_id) "
                "WHERE c.run_id = ? AND c.fewshot = ?",
                [report.run.run_id, report.run.fewshot],
            ).pl()
        means = (
            choice_masses(choices)
            .group_by("n_examples", "head")
            .agg(*[pl.col(c).mean() for c in (*CATEGORIES, "dlogp_top")], pl.len().alias("n_items"))
        )
        for r in means.iter_rows(named=True):
            common = {
                "seed": report.run.config.seed,
                "n_examples": r["n_examples"],
                "n_items": r["n_items"],
                "run_id": report.run.run_id,
            }
            rows += [{**common, "series": c, "metric": f"mass_{r['head']}", "value": r[c]} for c in CATEGORIES]
            rows.append({**common, "series": r["head"], "metric": "dlogp_top_distractor", "value": r["dlogp_top"]})
    results = results_frame(rows)
    largest = results["n_examples"].max()
    final = results.filter((pl.col("n_examples") == largest) & pl.col("metric").str.starts_with("mass_"))
    table = (
        final.group_by("metric", "series", maintain_order=True)  # columns in the order the rows were made
        .agg(pl.col("value").mean())
        .pivot(on="series", index="metric", values="value")
        .sort("metric")
    )
    shifts = (
        results.filter(pl.col("metric") == "dlogp_top_distractor")
        .group_by("series", "n_examples", maintain_order=True)
        .agg(pl.col("value").mean())
        .pivot(on="series", index="n_examples", values="value")
        .sort("n_examples")
    )
    summary = {
        f"{m}/{s}": round(float(v), 4)
        for m, s, v in final.group_by("metric", "series").agg(pl.col("value").mean()).iter_rows()
    }
    report = "\n\n".join(
        [
            f"# Likelihood shift: {benchmark}",
            f"Mean probability mass (softmax over the choices' log-likelihoods) at {largest} examples per head:",
            plots.table(table),
            "Mean change of the top distractor's log-likelihood from the base model to each head, per size:",
            plots.table(shifts),
            "![likelihood shift](likelihood_shift.png)",
        ]
    )
    png = plots.panels(
        results.filter(pl.col("metric").str.starts_with("mass_")),
        "metric",
        ["mass_base", "mass_positive", "mass_negative"],
        CATEGORIES,
        f"{benchmark}: probability mass",
        "mean probability",
    )
    return ExperimentResult(
        "likelihood-shift",
        benchmark,
        config,
        results,
        [r.run.run_id for r in reports],
        {"likelihood_shift.png": png},
        report,
        summary,
    )
