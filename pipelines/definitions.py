"""The Dagster code location: `dagster dev` (from the repository root) loads `defs` from here."""

import dagster as dg

from pipelines.defs.ingest.assets import items
from pipelines.defs.jobs import ingest_job
from pipelines.defs.resources import WarehouseResource
from pipelines.defs.scoring.assets import base_scores, choice_scores
from pipelines.defs.sensors import benchmark_partitions_sensor

defs = dg.Definitions(
    assets=[items, base_scores, choice_scores],
    jobs=[ingest_job],
    sensors=[benchmark_partitions_sensor],
    resources={"warehouse": WarehouseResource()},
)
