"""Experiment assets: one per experiment (E1-E6), partitioned by benchmark, each with its typed config, its
results in `likra_experiments` / `likra_experiment_results`, and its plots and key numbers in the metadata.

They train (or reuse) Likra runs themselves, writing the warehouse in short transactions between long
stretches of compute, so they hold no writer-pool slot: a slot held for the whole experiment would stop
every other writer for its duration.
"""

import dagster as dg

from likra.experiments import run_experiment
from likra.experiments.config import EXPERIMENTS, ExperimentConfig
from pipelines.defs.likra.assets import likra_eval
from pipelines.defs.metadata import markdown_image
from pipelines.defs.mining.assets import graded_negatives
from pipelines.defs.partitions import benchmark_asset
from pipelines.defs.resources import WarehouseResource
from pipelines.defs.settings import dagster_config

ExperimentRunConfig = dagster_config(ExperimentConfig, ExperimentConfig(), dg.Config, "ExperimentRunConfig")


def experiment_asset(name: str) -> dg.AssetsDefinition:
    """The asset that runs experiment `name` for a benchmark partition."""
    deps = [likra_eval, graded_negatives] if name == "negative-types" else [likra_eval]

    @benchmark_asset(
        "experiments",
        name=f"experiment_{name.replace('-', '_')}",
        deps=deps,
        kinds={"pytorch", "duckdb"},
        description=f"Likra experiment `{name}` (`likra experiment {name}`): results in "
        "`likra_experiment_results`, plots and a markdown report beside the warehouse.",
    )
    def run(
        context: dg.AssetExecutionContext, config: ExperimentRunConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        result = run_experiment(
            name,
            context.partition_key,
            ExperimentConfig(**config.model_dump()),
            db=warehouse.db_path,
            say=context.log.info,
        )
        numbers = {k: v for k, v in result.summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return dg.MaterializeResult(
            metadata={
                "experiment_id": result.experiment_id,
                "runs": result.runs,
                "report": dg.MetadataValue.path(str(result.output_dir / "report.md")),
                "dagster/row_count": result.results.height,
                **{key.replace("/", "__"): round(float(value), 5) for key, value in numbers.items()},
                **{name_: dg.MetadataValue.md(markdown_image(png, name_)) for name_, png in result.plots.items()},
                "summary": dg.MetadataValue.md(result.report.split("![")[0]),
            }
        )

    return run


EXPERIMENT_ASSETS = [experiment_asset(name) for name in EXPERIMENTS]
EXPERIMENT_JOBS = [
    dg.define_asset_job(
        f"run_{name.replace('-', '_')}_experiment",
        selection=[asset],
        description=f"Run the `{name}` experiment for one benchmark partition.",
    )
    for name, asset in zip(EXPERIMENTS, EXPERIMENT_ASSETS)
]
