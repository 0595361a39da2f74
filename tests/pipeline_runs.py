"""Helpers of the Dagster pipeline tests: the assets of one benchmark partition in pipeline order, and in-process
runs of some of them on a fresh test instance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.defs.ingest.assets import items
from pipelines.defs.jobs import MINING_ASSETS
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import pipeline_resources
from pipelines.defs.scoring.assets import base_scores, choice_scores

# Ingest, scoring and mining, then the Likra stage (the experiments come after them and are named apart).
MINING_ASSET_NAMES = [
    "items",
    "base_scores",
    "choice_scores",
    "answer_embeddings",
    "candidates",
    "candidate_scores",
    "graded_negatives",
]
PIPELINE_ASSET_NAMES = [*MINING_ASSET_NAMES, "likra_training_set", "likra_heads", "likra_eval_scores", "likra_eval"]


def materialize_partition(assets: Sequence[Any], partition: str, db: Path, **options: Any) -> dg.ExecuteInProcessResult:
    """One in-process run of `assets` for one benchmark partition, with the pipeline's resources on warehouse `db`."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, [partition])
        return dg.materialize(
            assets, partition_key=partition, instance=instance, resources=pipeline_resources(str(db)), **options
        )


def materialize_mining(partition: str, db: Path, **options: Any) -> dg.ExecuteInProcessResult:
    """One in-process run of the ingest, scoring and mining assets for one benchmark partition."""
    return materialize_partition([items, base_scores, choice_scores, *MINING_ASSETS], partition, db, **options)
