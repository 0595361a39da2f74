"""The code location: `dagster dev` (from the repository root) loads `defs` from here; `pipelines/cluster/` builds
the same definitions with a cluster executor (deploy/README.md)."""

import dagster as dg

from pipelines.defs.experiments.assets import EXPERIMENT_ASSETS, EXPERIMENT_JOBS
from pipelines.defs.ingest.assets import items
from pipelines.defs.jobs import LIKRA_ASSETS, MINING_ASSETS, ingest_job, likra_job, refresh_job, remine_job
from pipelines.defs.resources import pipeline_resources
from pipelines.defs.schedules import remine_schedule
from pipelines.defs.scoring.assets import base_scores, choice_scores
from pipelines.defs.sensors import benchmark_files_sensor, benchmark_partitions_sensor


def build_definitions(executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """Every asset, job, schedule and sensor; `executor` runs their steps (default: one process per step)."""
    return dg.Definitions(
        assets=[items, base_scores, choice_scores, *MINING_ASSETS, *LIKRA_ASSETS, *EXPERIMENT_ASSETS],
        jobs=[ingest_job, remine_job, refresh_job, likra_job, *EXPERIMENT_JOBS],
        schedules=[remine_schedule],
        sensors=[benchmark_partitions_sensor, benchmark_files_sensor],
        resources=pipeline_resources(),
        executor=executor,
    )


defs = build_definitions()
