"""The main job: materialise the pipeline's assets for the bundled demo benchmark in one Dagster run."""

from __future__ import annotations

import os
from collections.abc import Callable

import dagster as dg
import polars as pl

from pipelines.definitions import defs
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import pipeline_resources
from pipelines.errors import PipelineRunError
from warehouse.sql import run_query

DEMO = "demo"


def demo_instance() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME (so the run shows in `dagster dev`), else an ephemeral one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def run_demo(db: str | None, *, echo: Callable[[str], None], render: Callable[[pl.DataFrame], str]) -> None:
    """Materialise every asset for the demo partition and print what the warehouse now holds."""
    instance = demo_instance()
    if not instance.has_dynamic_partition(benchmark_partitions.name, DEMO):
        instance.add_dynamic_partitions(benchmark_partitions.name, [DEMO])
    result = dg.materialize(
        defs.assets, partition_key=DEMO, instance=instance,
        resources=pipeline_resources(db),
    )
    if not result.success:
        raise PipelineRunError(f"demo run {result.run_id} failed; see its logs in the Dagster UI (`make ui`)")
    checks = [(e.check_name, e.passed)
              for e in result.get_asset_check_evaluations()]
    echo(f"Dagster run {result.run_id} succeeded; checks: "
         + ", ".join(f"{name} {'passed' if ok else 'FAILED'}" for name, ok in checks))
    echo(render(run_query("SELECT benchmark, split, count(*) AS items FROM items GROUP BY ALL ORDER BY ALL", db)))
    echo(render(run_query("SELECT item_id, prompt, choices[gold + 1] AS answer FROM items "
                          f"WHERE benchmark = '{DEMO}' ORDER BY item_id LIMIT 3", db)))
    echo("Base model accuracy (view `accuracy`):")
    echo(render(run_query("SELECT benchmark, model, fewshot, n_items, round(acc, 3) AS acc, "
                          "round(acc_norm, 3) AS acc_norm FROM accuracy ORDER BY ALL", db)))
    echo("Near misses the pipeline found (view `near_misses`, most plausible first):")
    echo(render(run_query("SELECT question, gold_answer, negative, origin, round(sim_gold, 2) AS sim_gold, "
                          "round(margin_per_token, 2) AS margin_per_token FROM near_misses "
                          f"WHERE benchmark = '{DEMO}' ORDER BY margin_per_token DESC LIMIT 8", db)))
    echo('Query it yourself: likra sql "SELECT * FROM near_misses LIMIT 5"; browse: likra negatives demo')
