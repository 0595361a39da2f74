"""Paired comparisons over the same evaluation items, pooled over seeds, and the verdict rules fixed before a
study runs (docs/study-plan.md).

Every comparison is a contrast: a weighted sum of accuracies of cells (series, size), e.g. likra at 128
minus sft at 128, or (likra 128 - likra 64) - 3 (sft 128 - sft 64). It is computed per item and seed from
whether each cell got the item right, averaged over the seeds for each item, and its standard error is
the spread of those per-item values over the items (items are the unit: every arm and seed sees the same
ones, so item difficulty cancels in the difference).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

Cell = tuple[str, int]  # (series, n_examples)
METRICS = {"acc": "correct", "acc_norm": "correct_norm"}
# Verdict rules: an effect counts beyond Z standard errors; a claimed gain that stays below MIN_EFFECT
# (2 points of accuracy, far below any the paper reports) even at the top of its interval is not supported;
# "close" means within CLOSE (3 points) at both ends of the interval.
Z, MIN_EFFECT, CLOSE = 2.0, 0.02, 0.03
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


@dataclass(frozen=True)
class Estimate:
    """A contrast's estimate, its standard error, and what it rests on."""

    value: float
    stderr: float
    n_items: int
    n_seeds: int

    @property
    def low(self) -> float:
        """The lower end of the interval (value - Z standard errors)."""
        return self.value - Z * self.stderr

    @property
    def high(self) -> float:
        """The upper end of the interval (value + Z standard errors)."""
        return self.value + Z * self.stderr

    def scaled(self, factor: float) -> Estimate:
        """The same estimate times a constant (e.g. per example)."""
        return Estimate(self.value * factor, self.stderr * abs(factor), self.n_items, self.n_seeds)

    def __str__(self) -> str:
        return f"{self.value:+.4f} ± {self.stderr:.4f}"


def item_outcomes(
    con: duckdb.DuckDBPyConnection,
    runs: Sequence[str],
    *,
    w: float = 1.0,
    fewshot: Mapping[str, int] | None = None,
    series: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Per run, seed, size, mode and evaluation item: whether acc and acc_norm got it right (likra and negbase at
    weight w). `fewshot` picks each run's evaluation context; `series` names a run's rows (default: the mode)."""
    frame = con.execute(
        "SELECT e.run, r.config AS config, e.n_examples, e.mode, e.fewshot, e.item_id, e.correct, e.correct_norm "
        "FROM likra_eval_items e JOIN likra_runs r ON r.run_id = e.run "
        "WHERE list_contains(?, e.run) AND (e.w IS NULL OR e.w = ?)",
        [list(runs), w],
    ).pl()
    frame = frame.with_columns(
        pl.col("config").map_elements(lambda text: json.loads(text)["seed"], return_dtype=pl.Int64).alias("seed")
    ).drop("config")
    if fewshot is not None:
        wanted = pl.DataFrame(
            {"run": list(fewshot), "fewshot": list(fewshot.values())},
            schema={"run": pl.String, "fewshot": frame.schema["fewshot"]},
        )
        frame = frame.join(wanted, on=["run", "fewshot"])
    named = (
        pl.col("mode") if series is None else pl.col("run").replace_strict(series, default=None) + "/" + pl.col("mode")
    )
    return frame.with_columns(
        named.alias("series"), pl.col("correct").cast(pl.Float64), pl.col("correct_norm").cast(pl.Float64)
    )


def adapter_outcomes(
    con: duckdb.DuckDBPyConnection, model: str, fewshot: int, adapters: Mapping[str, tuple[int, int]], series: str
) -> pl.DataFrame:
    """Per adapter scored as plain log-likelihood (adapter -> (seed, n_examples)) and item: whether acc and
    acc_norm got it right, as rows of `series`, in `item_outcomes`' columns (for adapters outside a Likra run,
    such as DPO's)."""
    frame = con.execute(
        "SELECT adapter, item_id, (pred = gold)::DOUBLE AS correct, (pred_norm = gold)::DOUBLE AS correct_norm "
        "FROM item_predictions WHERE model = ? AND fewshot = ? AND list_contains(?, adapter) AND n_scored = n_choices",
        [model, fewshot, list(adapters)],
    ).pl()
    seeds = {adapter: seed for adapter, (seed, _) in adapters.items()}
    sizes = {adapter: n for adapter, (_, n) in adapters.items()}
    return frame.select(
        pl.col("adapter").replace_strict(seeds, return_dtype=pl.Int64).alias("seed"),
        pl.col("adapter").replace_strict(sizes, return_dtype=pl.Int64).alias("n_examples"),
        pl.lit(series).alias("series"),
        "item_id",
        "correct",
        "correct_norm",
    )


def contrast(outcomes: pl.DataFrame, terms: Mapping[Cell, float], metric: str = "acc") -> Estimate:
    """Σ coefficient x accuracy over the cells, paired by item and seed, pooled over seeds; its standard error
    over items. Only (item, seed) pairs where every cell was evaluated count."""
    column = METRICS[metric]
    parts = []
    for (name, n), coefficient in terms.items():
        cell = outcomes.filter((pl.col("series") == name) & (pl.col("n_examples") == n))
        if cell.is_empty():
            raise ValueError(f"no evaluated rows for {name} at {n} examples")
        parts.append(cell.select("seed", "item_id", (pl.col(column) * coefficient).alias(f"t{len(parts)}")))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, on=["seed", "item_id"])
    per_pair = joined.select("seed", "item_id", pl.sum_horizontal(pl.exclude("seed", "item_id")).alias("d"))
    per_item = per_pair.group_by("item_id").agg(pl.col("d").mean())["d"]
    n = per_item.len()
    if n == 0:
        raise ValueError("the cells share no evaluated item and seed")
    spread = float(per_item.std(ddof=1)) if n > 1 else float("nan")
    return Estimate(float(per_item.mean()), spread / math.sqrt(n), n, per_pair["seed"].n_unique())


def difference(outcomes: pl.DataFrame, a: Cell, b: Cell, metric: str = "acc") -> Estimate:
    """Accuracy of cell a minus cell b, paired (zero when they are the same cell)."""
    terms = {a: 1.0}
    terms[b] = terms.get(b, 0.0) - 1.0  # a dict literal {a: 1, b: -1} would keep only -1 when a == b
    return contrast(outcomes, terms, metric)


def paired_table(outcomes: pl.DataFrame, comparisons: Sequence[tuple[str, str]], metric: str = "acc") -> pl.DataFrame:
    """Per size (above 0), each comparison's difference a - b as "estimate ± SE", paired over the same items and
    pooled over seeds; "-" where a cell was not evaluated at that size."""
    rows = []
    for n in sorted(n for n in outcomes["n_examples"].unique().to_list() if n > 0):
        row: dict[str, object] = {"n_examples": n}
        for a, b in comparisons:
            try:
                row[f"{a} - {b}"] = str(difference(outcomes, (a, n), (b, n), metric))
            except ValueError:  # one of the two has no evaluated rows at this size
                row[f"{a} - {b}"] = "-"
        rows.append(row)
    return pl.DataFrame(rows)


def slope(outcomes: pl.DataFrame, series: str, low: int, high: int, metric: str = "acc") -> Estimate:
    """Accuracy gained per added example from `low` to `high` examples, paired."""
    return difference(outcomes, (series, high), (series, low), metric).scaled(1 / (high - low))


def greater(estimate: Estimate) -> str:
    """Verdict on a claim that the contrast is positive."""
    if estimate.low > 0:
        return SUPPORTED
    return NOT_SUPPORTED if estimate.high < MIN_EFFECT else INCONCLUSIVE


def close(estimate: Estimate) -> str:
    """Verdict on a claim that the contrast is near zero (within CLOSE)."""
    if -CLOSE <= estimate.low and estimate.high <= CLOSE:
        return SUPPORTED
    return NOT_SUPPORTED if estimate.low > CLOSE or estimate.high < -CLOSE else INCONCLUSIVE


def several_times(excess: Estimate, gain: Estimate) -> str:
    """Verdict on 'gain is several times the other's': `excess` = gain - k x other's gain, `gain` alone."""
    if excess.low > 0 and gain.low > 0:
        return SUPPORTED
    return NOT_SUPPORTED if excess.high < 0 or gain.high < MIN_EFFECT else INCONCLUSIVE


def peak_near_one(best: float, over_sft: Estimate, over_one: Estimate, near: tuple[float, float] = (0.75, 1.25)) -> str:
    """Verdict on 'accuracy peaks near w = 1': the best w of the grid (`best`) lies in `near` and beats w = 0
    (sft) beyond the noise (`over_sft`); not supported when it lies outside and beats w = 1 beyond the noise
    (`over_one`)."""
    inside = near[0] <= best <= near[1]
    if inside and over_sft.low > 0:
        return SUPPORTED
    return NOT_SUPPORTED if not inside and over_one.low > 0 else INCONCLUSIVE
