"""The hypotheses of the Likra study (docs/study-plan.md), each a paired contrast with a verdict by the rules of
`likra.experiments.paired`, read from runs already in the warehouse (nothing is trained here).

A hypothesis whose runs are not in the warehouse yet is reported as "not run"."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from likra.experiments.config import ExperimentConfig
from likra.experiments.paired import (
    Estimate,
    close,
    contrast,
    difference,
    greater,
    item_outcomes,
    peak_near_one,
    several_times,
)
from likra.runs import find_run
from likra.workflow import prepare_run
from warehouse.db import connect_read_only
from warehouse.errors import LikraError
from warehouse.location import DbRef

MAIN_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]
TYPE_SIZES = [128, 512]
NOT_RUN = "not run"
WEIGHTS = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5]


@dataclass(frozen=True)
class Hypothesis:
    """A claim, the contrast that tests it, and the rule that turns the contrast into a verdict."""

    key: str
    claim: str
    test: str
    judge: Callable[[pl.DataFrame, str], tuple[str, dict[str, Estimate]]]


def _recorded_runs(
    db: DbRef,
    benchmark: str,
    config: ExperimentConfig,
    policy: str | None = None,
    sizes: Sequence[int] | None = None,
) -> list[str]:
    """Ids of the evaluated runs of each seed under these settings; empty when any is missing."""
    found = []
    for seed in config.seeds:
        update = {
            "seed": seed,
            "heads": "both",
            **({"policy": policy} if policy else {}),
            **({"sizes": list(sizes)} if sizes else {}),
        }
        try:
            run, _, _ = prepare_run(benchmark, config.train.model_copy(update=update), db=db)
        except LikraError:  # a policy whose data is missing has no run, which is what this reports
            return []
        with connect_read_only(db) as con:
            if find_run(con, run.run_id, db=db) is None:
                return []
        found.append(run.run_id)
    return found


def _outcomes(db: DbRef, runs: Mapping[str, str], w: float = 1.0) -> pl.DataFrame:
    """Item outcomes of runs (id -> series prefix), series named `<prefix>/<mode>`."""
    with connect_read_only(db) as con:
        return item_outcomes(con, list(runs), w=w, series=runs)


def _greater(a: tuple[str, int], b: tuple[str, int]):
    def judge(frame: pl.DataFrame, metric: str) -> tuple[str, dict[str, Estimate]]:
        found = difference(frame, a, b, metric)
        return greater(found), {"difference": found}

    return judge


def _close(a: tuple[str, int], b: tuple[str, int]):
    def judge(frame: pl.DataFrame, metric: str) -> tuple[str, dict[str, Estimate]]:
        found = difference(frame, a, b, metric)
        return close(found), {"difference": found}

    return judge


def _several_times(series: str, reference: str, low: int, high: int, factor: float = 3.0):
    def judge(frame: pl.DataFrame, metric: str) -> tuple[str, dict[str, Estimate]]:
        gain = difference(frame, (series, high), (series, low), metric)
        other = difference(frame, (reference, high), (reference, low), metric)
        excess = contrast(
            frame, {(series, high): 1, (series, low): -1, (reference, high): -factor, (reference, low): factor}, metric
        )
        return several_times(excess, gain), {"likra_gain": gain, "sft_gain": other, f"excess_over_{factor:g}x": excess}

    return judge


def _peak(n: int):
    def judge(frame: pl.DataFrame, metric: str) -> tuple[str, dict[str, Estimate]]:
        column = {"acc": "correct", "acc_norm": "correct_norm"}[metric]
        cells = frame.filter(pl.col("n_examples") == n)
        means = cells.group_by("series").agg(pl.col(column).mean()).sort(column, "series", descending=[True, False])
        best_series = means["series"][0]
        best = float(best_series.split("@")[1])
        over_sft = difference(frame, (best_series, n), ("w@0", n), metric)
        over_one = difference(frame, (best_series, n), ("w@1", n), metric)
        grid = {s: difference(frame, (s, n), ("w@1", n), metric) for s in sorted(cells["series"].unique())}
        return peak_near_one(best, over_sft, over_one), {
            "best_w": Estimate(best, 0.0, over_sft.n_items, over_sft.n_seeds),
            "best_over_w0": over_sft,
            "best_over_w1": over_one,
            **{f"{s}_minus_w@1": e for s, e in grid.items()},
        }

    return judge


def study_verdicts(
    db: DbRef,
    config: ExperimentConfig,
    arms: Mapping[str, str],
    type_sizes: Sequence[int],
    benchmark: str = "arc_easy",
    arm_sizes: Mapping[str, Sequence[int]] | None = None,
) -> list[dict]:
    """Every hypothesis of the plan with its estimates and verdicts (acc_norm first, then acc). An arm trained
    at other sizes than `type_sizes` (`arm_sizes`: a policy with fewer training questions) is read at its largest."""
    arm_sizes = arm_sizes or {}
    largest = max(config.train.sizes or MAIN_SIZES)
    low, high = config.paper_window
    main = {run: "random" for run in _recorded_runs(db, benchmark, config)}
    arm_runs = {
        run: label
        for policy, label in arms.items()
        for run in _recorded_runs(db, benchmark, config, policy, arm_sizes.get(policy, type_sizes))
    }
    at = max(type_sizes)
    mined_at = max(arm_sizes.get("mined_near_miss", type_sizes))
    hypotheses = [
        (
            "H1a",
            f"likra > sft at {high} examples",
            "likra - sft, paired",
            main,
            _greater(("random/likra", high), ("random/sft", high)),
        ),
        (
            "H1b",
            f"likra > sft at {largest} examples",
            "likra - sft, paired",
            main,
            _greater(("random/likra", largest), ("random/sft", largest)),
        ),
        (
            "H2",
            f"likra's gain {low} -> {high} is several (3) times sft's",
            "(likra gain) - 3 (sft gain), paired",
            main,
            _several_times("random/likra", "random/sft", low, high),
        ),
        (
            "H3a",
            f"negbase close to likra at {high} (within 0.03)",
            "negbase - likra, paired",
            main,
            _close(("random/negbase", high), ("random/likra", high)),
        ),
        (
            "H3b",
            f"negbase close to likra at {largest} (within 0.03)",
            "negbase - likra, paired",
            main,
            _close(("random/negbase", largest), ("random/likra", largest)),
        ),
        (
            "H4a",
            f"own distractors > other questions' answers at {at}",
            "random - other_question (likra), paired",
            {**main, **arm_runs},
            _greater(("random/likra", at), ("other_question/likra", at)),
        ),
        (
            "H4b",
            f"other questions' answers > other benchmarks' text at {at}",
            "other_question - other_benchmark (likra), paired",
            arm_runs,
            _greater(("other_question/likra", at), ("other_benchmark/likra", at)),
        ),
        (
            "H6a",
            f"the own distractor graded most plausible > a random own distractor at {at}",
            "most_plausible - random (likra), paired",
            {**main, **arm_runs},
            _greater(("most_plausible/likra", at), ("random/likra", at)),
        ),
        (
            "H6b",
            f"mined cross-question near misses > a random own distractor at {mined_at}",
            "mined_near_miss - random (likra), paired",
            {**main, **arm_runs},
            _greater(("mined_near_miss/likra", mined_at), ("random/likra", mined_at)),
        ),
    ]
    results = []
    for key, claim, test, runs, judge in hypotheses:
        results.append(_judged(key, claim, test, lambda runs=runs: _outcomes(db, runs), judge))
    results.append(
        _judged(
            "H5",
            f"likra accuracy peaks near w = 1 (best w of {WEIGHTS} in [0.75, 1.25], above w = 0) at {largest}",
            "best w - w 0 and best w - w 1, paired",
            lambda: _by_weight(db, main),
            _peak(largest),
        )
    )
    return results


def _by_weight(db: DbRef, runs: Mapping[str, str]) -> pl.DataFrame:
    frames = []
    for w in WEIGHTS:
        frame = _outcomes(db, runs, w).filter(pl.col("series") == "random/likra")
        frames.append(frame.with_columns(pl.lit(f"w@{w:g}").alias("series")))
    return pl.concat(frames)


def _judged(
    key: str,
    claim: str,
    test: str,
    load: Callable[[], pl.DataFrame],
    judge: Callable[[pl.DataFrame, str], tuple[str, dict[str, Estimate]]],
) -> dict:
    row: dict = {"hypothesis": key, "claim": claim, "test": test}
    for metric in ("acc_norm", "acc"):
        try:
            verdict, estimates = judge(load(), metric)
        except (ValueError, pl.exceptions.PolarsError) as exc:
            row[metric] = {"verdict": NOT_RUN, "why": str(exc)}
            continue
        row[metric] = {
            "verdict": verdict,
            **{
                name: {
                    "value": e.value,
                    "stderr": e.stderr,
                    "low": e.low,
                    "high": e.high,
                    "n_items": e.n_items,
                    "n_seeds": e.n_seeds,
                }
                for name, e in estimates.items()
            },
        }
    return row


def verdict_markdown(rows: list[dict]) -> str:
    """The hypotheses table: claim, test, and per metric the main estimate ± SE and the verdict."""
    lines = ["| | claim | test | acc_norm (primary) | acc |", "|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for metric in ("acc_norm", "acc"):
            found = row[metric]
            estimates = [(name, e) for name, e in found.items() if isinstance(e, dict)]
            if not estimates:
                cells.append(f"**{found['verdict']}**")
                continue
            name, main = estimates[-1] if row["hypothesis"] == "H2" else estimates[0]
            if row["hypothesis"] == "H5":
                name, main = "best_over_w0", found["best_over_w0"]
                name = f"best w {found['best_w']['value']:g}; best - w 0"
            cells.append(
                f"{main['value']:+.3f} ± {main['stderr']:.3f} ({name}, {main['n_items']} items x "
                f"{main['n_seeds']} seeds): **{found['verdict']}**"
            )
        lines.append(f"| {row['hypothesis']} | {row['claim']} | {row['test']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
