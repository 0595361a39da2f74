"""An experiment's result and where it goes: a row of `likra_experiments` with its configuration, its numbers in
`likra_experiment_results`, and its plots and markdown report in a folder beside the warehouse."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from likra.experiments.config import ExperimentConfig
from warehouse.location import DbRef
from warehouse.paths import data_dir
from warehouse.sinks import Sink

# What an experiment reports its progress to, a line at a time (None: nowhere).
Say = Callable[[str], None] | None

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "series": pl.String(),
    "seed": pl.Int32(),
    "n_examples": pl.Int32(),
    "w": pl.Float64(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "stderr": pl.Float64(),
    "n_items": pl.Int32(),
    "run_id": pl.String(),
}


@dataclass
class ExperimentResult:
    """What an experiment found: its numbers in long form, plots, a markdown report and the key numbers."""

    name: str
    benchmark: str
    config: ExperimentConfig
    results: pl.DataFrame  # RESULT_SCHEMA
    runs: list[str] = field(default_factory=list)
    plots: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG
    report: str = ""
    summary: dict = field(default_factory=dict)
    output_dir: Path | None = None

    @property
    def experiment_id(self) -> str:
        """Name, benchmark and configuration hash: rerunning the same experiment replaces its results."""
        return f"{self.name}-{self.benchmark}-{self.config.digest()}"


def results_frame(rows: list[dict]) -> pl.DataFrame:
    """Result rows (missing keys are NULL) with the table's types."""
    return pl.DataFrame([{k: row.get(k) for k in RESULT_SCHEMA} for row in rows], schema=RESULT_SCHEMA, orient="row")


def accuracy_rows(
    common: dict, acc: float, acc_norm: float, n_items: int, acc_stderr: float | None = None
) -> list[dict]:
    """acc and acc_norm as result rows, each with its binomial standard error (acc's as recorded, when given)."""
    if acc_stderr is None:
        acc_stderr = math.sqrt(acc * (1 - acc) / n_items)
    return [
        {**common, "metric": "acc", "value": acc, "stderr": acc_stderr},
        {**common, "metric": "acc_norm", "value": acc_norm, "stderr": math.sqrt(acc_norm * (1 - acc_norm) / n_items)},
    ]


def experiments_dir(db: DbRef = None) -> Path:
    """Where experiment folders live: `experiments/` beside the warehouse."""
    return data_dir(db) / "experiments"


def save_experiment(result: ExperimentResult, sink: Sink, folder: Path) -> Path:
    """Write the plots and report into `folder`, and the experiment and its numbers through the sink."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in result.plots.items():
        (folder / name).write_bytes(png)
    report = folder / "report.md"
    report.write_text(result.report)
    result.output_dir = folder
    sink.write(
        likra_experiments=pl.DataFrame(
            [
                {
                    "experiment_id": result.experiment_id,
                    "name": result.name,
                    "benchmark": result.benchmark,
                    "config": result.config.model_dump_json(),
                    "runs": result.runs,
                    "output_dir": str(folder),
                    "summary": json.dumps(result.summary, default=str),
                    "created_at": datetime.now(),
                }
            ],
            schema_overrides={"runs": pl.List(pl.String)},
        ),
        likra_experiment_results=result.results.with_columns(pl.lit(result.experiment_id).alias("experiment_id")),
    )
    return report
