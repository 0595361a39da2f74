"""Base-model scores of every choice: computed without holding the warehouse, then written in the pool."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from likra.models import DEFAULT_MODEL
from likra.scoring.run import StagingSink, load_staged, score_benchmark
from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, WarehouseResource
from warehouse.db import connect


class BaseScoresConfig(dg.Config):
    """Which model scores the partition's items, and with what context."""

    model: str = Field(default=DEFAULT_MODEL, description="Hub model id, local folder, or `smollm2` (offline)")
    dtype: str = Field(default="auto", description="auto (fp32 on CPU, bf16 on CUDA) | bf16 | fp16 | fp32")
    fewshot: int = Field(default=0, description="Exemplars before each prompt (first k of the few-shot split)")
    fewshot_split: str | None = Field(default=None, description="Split the exemplars come from")
    splits: list[str] | None = Field(default=None, description="Only these splits")
    limit: int | None = Field(default=None, description="At most this many items per split")


def staging_dir(warehouse: WarehouseResource, benchmark: str) -> Path:
    """Where a partition's computed scores wait for the writer: beside the warehouse file."""
    return warehouse.path().resolve().parent / "staging" / "base_scores" / benchmark


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
    report = score_benchmark(
        context.partition_key, db=warehouse.db_path, model=config.model, dtype=config.dtype,
        fewshot=config.fewshot, fewshot_split=config.fewshot_split, splits=config.splits, limit=config.limit,
        sink=StagingSink(staging_dir(warehouse, context.partition_key)),
    )
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
    with connect(warehouse.db_path) as con:
        report = load_staged(con, staging_dir(warehouse, context.partition_key))
        rows = con.execute("SELECT count(*) FROM choice_scores s JOIN items i USING (item_id) "
                           "WHERE i.benchmark = ? AND model = ? AND fewshot = ?",
                           [context.partition_key, report.model, report.fewshot]).fetchone()[0]
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "score_run_id": report.run_id,
                                          "model": report.model})
