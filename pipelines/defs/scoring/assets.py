"""Base-model scores of every choice: computed without holding the warehouse, then written in the pool."""

import dagster as dg

from likra.scoring.run import score_benchmark
from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, WarehouseResource
from pipelines.defs.settings import BaseScoresConfig, scoring_config
from warehouse.db import connect
from warehouse.sinks import load_staged

STEP = "base_scores"


@dg.asset(
    partitions_def=benchmark_partitions,
    deps=[items],
    group_name="scoring",
    kinds={"pytorch", "parquet"},
    description="Log-likelihood of every choice under the base model, computed with the scoring engine "
    "(cached scores are reused) and staged as Parquet; no warehouse lock is held while the model runs.",
)
def base_scores(context: dg.AssetExecutionContext, config: BaseScoresConfig,
                warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = scoring_config(config)
    report = score_benchmark(context.partition_key, db=warehouse.db_path, **settings.model_dump(),
                             sink=warehouse.staging(STEP, context.partition_key, fresh=True))
    return dg.MaterializeResult(metadata={
        "model": report.model,
        "fewshot": report.fewshot,
        "choices": report.n_requests,
        "cached": report.n_cached,
        "truncated": report.n_truncated,
        "choices_per_second": round(report.choices_per_second, 2),
        "forward_tokens": report.forward_tokens,
        "seconds": round(report.seconds, 2),
        **{f"acc/{split}": round(v["acc"], 4) for split, v in report.accuracy.items()},
        **{f"acc_norm/{split}": round(v["acc_norm"], 4) for split, v in report.accuracy.items()},
    })


@dg.asset(
    partitions_def=benchmark_partitions,
    deps=[base_scores],
    pool=WAREHOUSE_POOL,
    group_name="scoring",
    kinds={"duckdb"},
    description="The staged base-model scores in the warehouse tables `choice_scores` and `loglik_cache` "
    "(views `item_predictions`, `accuracy`).",
)
def choice_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    staged = warehouse.staging(STEP, context.partition_key)
    run = staged.read("score_runs").row(0, named=True)
    with connect(warehouse.db_path) as con:
        load_staged(con, staged.folder)
        rows = con.execute("SELECT count(*) FROM choice_scores s JOIN items i USING (item_id) "
                           "WHERE i.benchmark = ? AND model = ? AND fewshot = ? AND adapter = 'base'",
                           [context.partition_key, run["model"], run["fewshot"]]).fetchone()[0]
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "score_run_id": run["run_id"],
                                          "model": run["model"]})
