"""Base-model scores of every choice: computed without holding the warehouse, in one step or fanned out in
chunks of items (setting `chunk_items`), then written in the pool."""

import uuid

import dagster as dg

from likra.scoring.chunks import merge_reports, scoring_chunks
from likra.scoring.run import ScoreReport, run_frame, score_benchmark
from pipelines.defs.checks import keys_unique_result, keys_unique_spec
from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_asset, benchmark_partitions
from pipelines.defs.resources import WarehouseResource
from pipelines.defs.settings import BaseScoresConfig, scoring_config
from warehouse.db import connect
from warehouse.keys import duplicate_keys
from warehouse.sinks import load_staged, restage

STEP = "base_scores"


@dg.op(ins={"items": dg.In(dg.Nothing)}, out=dg.DynamicOut(dict))
def base_scores_plan(context: dg.OpExecutionContext, config: BaseScoresConfig, warehouse: WarehouseResource):
    """One chunk of item ids per step; the chunks share the run id of the one `score_runs` row."""
    warehouse.clear_chunks(STEP, context.partition_key)
    chunks = scoring_chunks(
        context.partition_key, scoring_config(config), db=warehouse.db_path, chunk_items=config.chunk_items
    )
    run_id = uuid.uuid4().hex
    for index, item_ids in enumerate(chunks):
        yield dg.DynamicOutput({"index": index, "item_ids": item_ids, "run_id": run_id}, mapping_key=str(index))


@dg.op
def base_scores_chunk(
    context: dg.OpExecutionContext, config: BaseScoresConfig, warehouse: WarehouseResource, chunk: dict
) -> ScoreReport:
    """Score one chunk's items (the model steps: a GPU each on Kubernetes), staging its rows."""
    sink = warehouse.chunk_staging(STEP, context.partition_key, chunk["index"])
    return score_benchmark(
        context.partition_key,
        db=warehouse.db_path,
        **scoring_config(config).model_dump(),
        sink=sink,
        item_ids=chunk["item_ids"],
        run_id=chunk["run_id"],
        record_run=False,
    )


@dg.op(out=dg.Out(dg.Nothing))
def base_scores_merge(context: dg.OpExecutionContext, warehouse: WarehouseResource, reports: list[ScoreReport]):
    """The chunks' rows and the run's one report, staged together for the `choice_scores` writer."""
    staged = warehouse.staging(STEP, context.partition_key, fresh=True)
    for chunk in warehouse.staged_chunks(STEP, context.partition_key):
        restage(chunk, staged)
    report = merge_reports(reports)
    staged.write(score_runs=run_frame(report))
    yield dg.Output(
        None,
        metadata={
            "model": report.model,
            "fewshot": report.fewshot,
            "chunks": len(reports),
            "choices": report.n_requests,
            "cached": report.n_cached,
            "truncated": report.n_truncated,
            "choices_per_second": round(report.choices_per_second, 2),
            "forward_tokens": report.forward_tokens,
            "seconds": round(report.seconds, 2),
            **{f"acc/{split}": round(v["acc"], 4) for split, v in report.accuracy.items()},
            **{f"acc_norm/{split}": round(v["acc_norm"], 4) for split, v in report.accuracy.items()},
        },
    )


def _chunk_settings(config: dict) -> dict:
    # The asset takes one config block, as a plain asset would; both the planner and every chunk read it.
    return {"base_scores_plan": {"config": config}, "base_scores_chunk": {"config": config}}


@dg.graph_asset(
    partitions_def=benchmark_partitions,
    ins={"items": dg.AssetIn(key=items.key, dagster_type=dg.Nothing)},
    config=dg.ConfigMapping(config_fn=_chunk_settings, config_schema=BaseScoresConfig.to_config_schema()),
    group_name="scoring",
    kinds={"pytorch", "parquet"},
    description="Log-likelihood of every choice under the base model, computed with the scoring engine "
    "(cached scores are reused) and staged as Parquet; no warehouse lock is held while the model runs. "
    "With `chunk_items`, chunks of items are scored by steps of their own.",
)
def base_scores(items):
    return base_scores_merge(base_scores_plan(items).map(base_scores_chunk).collect())


@benchmark_asset(
    "scoring",
    writer=True,
    deps=[base_scores],
    kinds={"duckdb"},
    description="The staged base-model scores in the warehouse tables `choice_scores` and `loglik_cache` "
    "(views `item_predictions`, `accuracy`).",
    check_specs=[keys_unique_spec("choice_scores", "item, choice, model, adapter and few-shot count")],
)
def choice_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    staged = warehouse.staging(STEP, context.partition_key)
    run = staged.read("score_runs").row(0, named=True)
    with connect(warehouse.db_path) as con:
        load_staged(con, staged.folder)
        rows = con.execute(
            "SELECT count(*) FROM choice_scores s JOIN items i USING (item_id) "
            "WHERE i.benchmark = ? AND model = ? AND fewshot = ? AND adapter = 'base'",
            [context.partition_key, run["model"], run["fewshot"]],
        ).fetchone()[0]
        duplicates = duplicate_keys(con, "choice_scores", context.partition_key)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "score_run_id": run["run_id"], "model": run["model"]},
        check_results=[keys_unique_result(duplicates)],
    )
