"""The main job: the whole pipeline for one benchmark partition in one Dagster run, from ingestion to the Likra
learning curve, reported one line per step; Dagster's own event stream goes to a log file.

On its embedded defaults it runs the bundled demo set with the offline models; given a folder of release
files (laid out as `../shared/data/benchmarks`) it runs a real benchmark from it, on a slice sized for a CPU.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from likra.rendering import markdown_table
from likra.report import curve_png, eval_rows, learning_curve
from pipelines.definitions import defs
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import pipeline_resources
from pipelines.errors import PipelineRunError
from warehouse.db import connect_read_only
from warehouse.paths import data_dir

DEMO = "demo"
DEMO_ASSETS = [a for a in defs.assets if a.group_names_by_key[a.key] != "experiments"]
TRY_SQL = [
    "SELECT n_examples, mode, round(acc, 3) AS acc, round(acc_stderr, 3) AS se, round(acc_norm, 3) AS acc_norm "
    "FROM likra_eval "
    "WHERE w IS NULL OR w = 1 ORDER BY mode, n_examples",
    "SELECT question, gold_answer, negative, origin, round(margin_pmi, 2) AS margin_pmi FROM near_misses "
    "ORDER BY margin_pmi DESC LIMIT 10",
    "SELECT r.head, r.position, r.answer, r.source FROM likra_training_rows r JOIN likra_runs u USING (set_id) "
    "WHERE r.position < 8 ORDER BY r.position, r.head",
]


def demo_instance() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME (so the run shows in `dagster dev`), else an ephemeral one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


class StepLines(logging.Handler):
    """Turns Dagster's events into one line per materialised asset (with its key numbers) and failed checks.

    A fanned-out asset runs several steps (plan, chunks, merge: `base_scores.base_scores_chunk[0]`); its line
    comes when the step that materialises it succeeds, timed from its first step."""

    KEYS = (
        "dagster/row_count",
        "choices",
        "cached",
        "logliks_computed",
        "embeddings_computed",
        "training_questions",
        "scores",
        "acc/likra",
        "acc/sft",
    )

    def __init__(self, echo: Callable[[str], None], total: int):
        super().__init__()
        self.echo, self.total, self.done, self.started, self.numbers = echo, total, 0, {}, {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        if event is None:
            return
        step = event.step_key
        asset = (step or "").split(".")[0]  # a graph-backed asset's steps are named `<asset>.<op>`
        if event.event_type_value == "STEP_START":
            self.started.setdefault(asset, time.perf_counter())
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            metadata = event.event_specific_data.materialization.metadata
            self.numbers[step] = ", ".join(
                f"{key.split('/')[-1]} {metadata[key].value}"
                for key in self.KEYS
                if key in metadata and not isinstance(metadata[key].value, (dict, list))
            )
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                self.echo(f"        check {evaluation.check_name} FAILED")
        elif event.event_type_value == "STEP_FAILURE" or (
            event.event_type_value == "STEP_SUCCESS" and step in self.numbers
        ):
            self.done += event.event_type_value == "STEP_SUCCESS"
            seconds = time.perf_counter() - self.started.get(asset, time.perf_counter())
            status = "done" if event.event_type_value == "STEP_SUCCESS" else f"FAILED (step {step})"
            extra = self.numbers.get(step, "")
            self.echo(
                f"  [{self.done:>2}/{self.total}] {asset:<20} {status} in {seconds:5.1f}s"
                f"{'  (' + extra + ')' if extra else ''}"
            )


def run_demo(
    db: str | None,
    *,
    echo: Callable[[str], None],
    render: Callable[[pl.DataFrame], str],
    benchmark: str = DEMO,
    data: str | None = None,
    limit: int | None = None,
) -> None:
    """Materialise the pipeline for one benchmark partition, reporting each step, then print what it found."""
    instance = demo_instance()
    if not instance.has_dynamic_partition(benchmark_partitions.name, benchmark):
        instance.add_dynamic_partitions(benchmark_partitions.name, [benchmark])
    logs = Path(os.environ.get("DAGSTER_HOME") or data_dir(db)) / ".dagster" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"{benchmark}-{datetime.now():%Y%m%dT%H%M%S}.log"
    lines = StepLines(echo, len(DEMO_ASSETS))

    @dg.logger(config_schema={"log_file": str})
    def progress(init_context) -> logging.Logger:
        log = logging.getLogger(f"likra.demo.{id(lines)}")
        log.setLevel(logging.DEBUG)
        log.handlers = [lines, logging.FileHandler(init_context.logger_config["log_file"])]
        log.propagate = False
        return log

    resources = pipeline_resources(db)
    if data:
        resources["warehouse"] = resources["warehouse"].model_copy(update={"benchmarks_dir": data})
    job = dg.define_asset_job("likra_demo", selection=DEMO_ASSETS)
    runnable = dg.Definitions(assets=DEMO_ASSETS, jobs=[job], resources=resources, loggers={"progress": progress})
    echo(f"Running the pipeline for {benchmark!r} through Dagster (events: {log_file})")
    started = time.perf_counter()
    result = runnable.resolve_job_def("likra_demo").execute_in_process(
        instance=instance,
        partition_key=benchmark,
        raise_on_error=False,
        run_config={"loggers": {"progress": {"config": {"log_file": str(log_file)}}}, **slice_config(benchmark, limit)},
    )
    if not result.success:
        raise PipelineRunError(
            f"run {result.run_id} failed; its events are in {log_file} and in the Dagster UI (`make ui`)"
        )
    checks = result.get_asset_check_evaluations()
    echo(
        f"Dagster run {result.run_id} succeeded in {time.perf_counter() - started:.0f}s; "
        f"{sum(e.passed for e in checks)} of {len(checks)} checks passed"
    )
    summarise(db, benchmark, result, echo=echo, render=render)


def slice_config(benchmark: str, limit: int | None) -> dict:
    """Run config sized for a CPU: the demo set whole; a real benchmark cut to `limit` items per split."""
    if benchmark == DEMO and limit is None:
        return {}
    limit = limit or 200
    return {
        "ops": {"items": {"config": {"limit": limit, "replace": True}}},  # a slice, chosen on purpose
        "resources": {"likra": {"config": {"sizes": [8, 16, 32, 64], "eval_limit": min(limit // 2, 100)}}},
    }


def summarise(
    db: str | None,
    benchmark: str,
    result: dg.ExecuteInProcessResult,
    *,
    echo: Callable[[str], None],
    render: Callable[[pl.DataFrame], str],
) -> None:
    """Print the learning curve and the near misses, save the plot and a report, suggest queries."""
    run_id = result.asset_materializations_for_node("likra_eval")[0].metadata["run_id"].value
    with connect_read_only(db) as con:
        curve = learning_curve(con, run_id)
        rows = eval_rows(con, run_id)
        misses = con.execute(
            "SELECT question, gold_answer, negative, origin, round(margin_pmi, 2) AS margin_pmi "
            "FROM near_misses WHERE benchmark = ? ORDER BY margin_pmi DESC LIMIT 5",
            [benchmark],
        ).pl()
    echo(f"\nAccuracy (acc / acc_norm) per scoring mode and examples per head (view likra_eval, run {run_id}):")
    echo(render(curve))
    echo("\nNear misses the base model prefers (view near_misses):")
    echo(render(misses))
    folder = data_dir(db) / "reports" / benchmark
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "learning_curve.png").write_bytes(curve_png(rows, f"{benchmark}: {run_id}"))
    (folder / "report.md").write_text(
        f"# {benchmark}: Likra run {run_id}\n\n" + markdown_table(curve) + "\n\n![learning curve](learning_curve.png)\n"
    )
    echo(f"\nPlot and report: {folder / 'learning_curve.png'}, {folder / 'report.md'}")
    echo("Try:")
    for query in TRY_SQL:
        echo(f'  likra sql "{query}"')
    echo("Browse the same warehouse and runs in the Dagster UI: make ui")
