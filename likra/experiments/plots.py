"""The experiments' figures (matplotlib, PNG bytes) and markdown tables.

Curves put examples on a log-2 axis with 0 examples at 1. One seed: error bars are the binomial standard
error; several seeds: the line is the mean and the band spans the lowest and highest seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from likra.rendering import figure_png, markdown_table, subplots


def _figure(width: float = 6.5, height: float = 4.0, columns: int = 1):
    figure, axes = subplots(1, columns, figsize=(width * columns if columns > 1 else width, height), squeeze=False)
    return figure, axes[0]


def _series(axis, rows: pl.DataFrame, label: str, x: str) -> None:
    """One line: mean over seeds with a min-max band, or one seed with standard-error bars."""
    stats = (
        rows.group_by(x)
        .agg(
            pl.col("value").mean().alias("mean"),
            pl.col("value").min().alias("low"),
            pl.col("value").max().alias("high"),
            pl.col("stderr").mean().alias("se"),
            pl.col("seed").n_unique().alias("seeds"),
        )
        .sort(x)
    )
    xs = [max(v, 1) if x == "n_examples" else v for v in stats[x].to_list()]
    if stats["seeds"].max() > 1:
        line = axis.plot(
            xs, stats["mean"].to_list(), marker="o", label=f"{label} (mean of {stats['seeds'].max()} seeds)"
        )
        axis.fill_between(xs, stats["low"].to_list(), stats["high"].to_list(), alpha=0.2, color=line[0].get_color())
    else:
        axis.errorbar(
            xs, stats["mean"].to_list(), yerr=stats["se"].fill_null(0).to_list(), marker="o", capsize=3, label=label
        )


def curves(rows: pl.DataFrame, series: Sequence[str], title: str, ylabel: str = "accuracy") -> bytes:
    """Metric against examples (log 2), one line per series."""
    figure, (axis,) = _figure()
    for name in series:
        part = rows.filter(pl.col("series") == name)
        if not part.is_empty():
            _series(axis, part, name, "n_examples")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("training examples per head (0 plotted at 1)")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(fontsize=8)
    return figure_png(figure)


def by_weight(rows: pl.DataFrame, title: str) -> bytes:
    """Accuracy against the negative-head weight w, one line per size."""
    figure, (axis,) = _figure()
    for n in sorted(rows["n_examples"].unique().to_list()):
        _series(axis, rows.filter(pl.col("n_examples") == n), f"N = {n}", "w")
    axis.set_xlabel("negative-head weight w (score = log p+ - w log p-)")
    axis.set_ylabel("accuracy")
    axis.set_title(title)
    axis.legend(fontsize=8)
    return figure_png(figure)


def panels(
    rows: pl.DataFrame, panel_column: str, panel_order: Sequence[str], series: Sequence[str], title: str, ylabel: str
) -> bytes:
    """One panel per value of `panel_column`, each with a line per series against examples."""
    figure, axes = _figure(4.2, 3.6, columns=len(panel_order))
    for axis, panel in zip(axes, panel_order):
        part = rows.filter(pl.col(panel_column) == panel)
        for name in series:
            line = part.filter(pl.col("series") == name)
            if not line.is_empty():
                _series(axis, line, name, "n_examples")
        axis.set_xscale("log", base=2)
        axis.set_title(f"{panel}")
        axis.set_xlabel("examples (0 at 1)")
        axis.set_ylabel(ylabel)
        axis.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    return figure_png(figure)


def table(frame: pl.DataFrame, digits: int = 3) -> str:
    """A frame as a markdown table, floats rounded, cells never cut (a report keeps every digit and label)."""
    return markdown_table(frame, width=None, digits=digits)
