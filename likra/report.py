"""What a Likra run shows its user, in the CLI and the Dagster UI alike: accuracy per size and mode, and
the learning-curve plot (accuracy against examples, log scale, one line per mode)."""

from __future__ import annotations

import duckdb
import polars as pl

from likra.rendering import figure_png, subplots

CURVE_MODES = ("base", "sft", "likra", "negbase")


def eval_rows(con: duckdb.DuckDBPyConnection, run_id: str, w: float = 1.0) -> pl.DataFrame:
    """The run's `likra_eval` rows at weight w (modes without a weight as they are)."""
    return con.execute(
        "SELECT n_examples, mode, fewshot, n_items, acc, acc_stderr, acc_norm FROM likra_eval "
        "WHERE run = ? AND (w IS NULL OR w = ?) ORDER BY fewshot, mode, n_examples",
        [run_id, w],
    ).pl()


def learning_curve(con: duckdb.DuckDBPyConnection, run_id: str, w: float = 1.0) -> pl.DataFrame:
    """Accuracy per size (rows) and mode (columns) as "acc / acc_norm", w = 1 for the weighted modes."""
    rows = eval_rows(con, run_id, w).filter(pl.col("mode").is_in(CURVE_MODES))
    if rows.is_empty():
        return pl.DataFrame({"n_examples": []})
    cells = rows.with_columns(pl.format("{} / {}", pl.col("acc").round(3), pl.col("acc_norm").round(3)).alias("cell"))
    wide = cells.pivot(on="mode", index=["fewshot", "n_examples"], values="cell")
    return wide.select("fewshot", "n_examples", *[m for m in CURVE_MODES if m in wide.columns]).sort(
        "fewshot", "n_examples"
    )


def curve_png(rows: pl.DataFrame, title: str) -> bytes:
    """A PNG of accuracy against examples (log scale), one line per mode, with binomial standard errors."""
    figure, axis = subplots(figsize=(6.5, 4))
    for mode in CURVE_MODES:
        part = rows.filter(pl.col("mode") == mode).sort("n_examples")
        if part.is_empty():
            continue
        x = [max(n, 1) for n in part["n_examples"].to_list()]  # 0 examples sits at 1 on the log axis
        axis.errorbar(x, part["acc"].to_list(), yerr=part["acc_stderr"].to_list(), marker="o", capsize=3, label=mode)
    axis.set_xscale("log", base=2)
    axis.set_xlabel("training examples per head (0 plotted at 1)")
    axis.set_ylabel("accuracy")
    axis.set_title(title)
    axis.legend()
    return figure_png(figure, dpi=90)
