"""Likra assets: Dagster wiring around the stages in `likra.workflow`. The training set is built once, written in
the writer pool, and handed over with its run (id, base model key, settings hash) in its materialisation's
metadata; training and evaluation scoring run outside the pool and stage their rows; `likra_eval` writes them and
reports the learning curve. The settings come from the `likra` resource, shared by the four."""

from datetime import datetime

import dagster as dg

from likra.config import TrainConfig
from likra.data import build_training_set, training_rows, training_set_frames
from likra.evaluate import evaluate_run
from likra.heads import saved_checkpoints
from likra.report import curve_png, eval_rows, learning_curve
from likra.runs import Run, RunError, checkpoint_frame, run_frame, runs_dir
from likra.train import checkpoint_sizes
from likra.workflow import run_for_set, train_heads
from pipelines.defs.checks import zero_check
from pipelines.defs.metadata import markdown_image, markdown_table
from pipelines.defs.mining.assets import graded_negatives
from pipelines.defs.partitions import benchmark_asset
from pipelines.defs.resources import WarehouseResource
from pipelines.defs.settings import LIKRA_DEFAULTS, LikraSettings
from warehouse.db import connect, connect_read_only
from warehouse.sinks import WarehouseSink, load_staged

CODE_VERSION = LIKRA_DEFAULTS.digest()  # changed default settings mark the Likra assets as changed in the UI
HEADS, SCORES = "likra_heads", "likra_eval_scores"


@benchmark_asset(
    "likra",
    writer=True,
    deps=[graded_negatives],
    kinds={"duckdb"},
    code_version=CODE_VERSION,
    description="The training set of the partition under the configured policy and seed: which items train and "
    "which evaluate (tables `likra_training_sets`, `likra_set_items`), and one positive and one negative row per "
    "training question in the seeded order both heads share (`likra_training_rows`).",
    check_specs=[
        dg.AssetCheckSpec(
            "enough_training_rows",
            asset="likra_training_set",
            blocking=True,
            description="the training set reaches the largest requested size",
        ),
        dg.AssetCheckSpec(
            "no_eval_question_in_training",
            asset="likra_training_set",
            blocking=True,
            description="no training row asks an evaluation item's question",
        ),
    ],
)
def likra_training_set(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, likra: LikraSettings
) -> dg.MaterializeResult:
    config = likra.train_config()
    with connect_read_only(warehouse.db_path) as con:
        training = build_training_set(con, context.partition_key, config)
    WarehouseSink(warehouse.db_path).write(**training_set_frames(training, config))
    run, started = run_for_set(training, config, db=warehouse.db_path)
    examples = training.n_train * config.epochs
    largest = max(config.sizes) if config.sizes else examples
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": training.rows.height,
            "set_id": training.set_id,
            # What the heads and the evaluation need, so that neither builds the set again:
            "run_id": run.run_id,
            "base_model": run.model,
            "settings_hash": config.digest(),
            "run_started": started.isoformat(),
            "policy": config.policy,
            "training_questions": training.n_train,
            "evaluation_items": len(training.split.eval),
            "evaluation_split": training.split.eval_split,
            "held_out": training.split.holdout,
            "skipped": dict(training.skipped),
            "sizes": checkpoint_sizes(config.sizes, examples) if examples else [],
            "preview": dg.MetadataValue.md(
                markdown_table(
                    training.rows.head(6).select("head", "position", "item_id", "answer", "source"), width=60
                )
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="enough_training_rows",
                passed=examples >= largest,
                metadata={"examples": examples, "largest_size": largest},
            ),
            zero_check("no_eval_question_in_training", training.leaks(), "leaked_rows"),
        ],
    )


def handed_over(context: dg.AssetExecutionContext, db: str | None, config: TrainConfig) -> tuple[Run, datetime]:
    """The run `likra_training_set` prepared for this partition, from its latest materialisation's metadata."""
    found = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=likra_training_set.key, asset_partitions=[context.partition_key]), limit=1
    ).records
    meta = {k: v.value for k, v in found[0].asset_materialization.metadata.items()} if found else {}
    if meta.get("settings_hash") != config.digest():
        raise RunError(
            f"likra_training_set of {context.partition_key!r} was "
            f"{'materialised with other Likra settings' if found else 'never materialised'}: materialise it with "
            "these settings first (in the same run, or before this one)"
        )
    run_id = meta["run_id"]
    run = Run(run_id, context.partition_key, meta["set_id"], config, meta["base_model"], runs_dir(db) / run_id)
    return run, datetime.fromisoformat(meta["run_started"])


@benchmark_asset(
    "likra",
    deps=[likra_training_set],
    kinds={"pytorch", "peft"},
    code_version=CODE_VERSION,
    description="The positive and negative LoRA heads, trained with a checkpoint at every size (peft adapter "
    "folders beside the warehouse); holds no warehouse connection while training and stages the run and "
    "checkpoint rows for `likra_eval`. A run killed midway continues from its last checkpoint.",
)
def likra_heads(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, likra: LikraSettings
) -> dg.MaterializeResult:
    run, started = handed_over(context, warehouse.db_path, likra.train_config())
    staged = warehouse.staging(HEADS, context.partition_key, fresh=True)
    staged.write(likra_runs=run_frame(run, started, None))
    with connect_read_only(warehouse.db_path) as con:
        rows = {head: training_rows(con, run.set_id, head) for head in run.heads}
    checkpoints = train_heads(
        run, rows, staged, progress=lambda head, n, loss: context.log.debug(f"{head}: +{n} examples, loss {loss:.4f}")
    )
    staged.write(
        likra_checkpoints=checkpoint_frame(run.run_id, checkpoints), likra_runs=run_frame(run, started, datetime.now())
    )
    staged.write_json("run", {"run_id": run.run_id})
    table = checkpoint_frame(run.run_id, checkpoints).select("head", "n_examples", "adapter", "loss", "seconds")
    return dg.MaterializeResult(
        metadata={
            "run_id": run.run_id,
            "adapters": str(run.out_dir),
            "heads": list(run.heads),
            "checkpoints": dg.MetadataValue.md(markdown_table(table)),
        }
    )


@benchmark_asset(
    "likra",
    deps=[likra_heads],
    kinds={"pytorch"},
    code_version=CODE_VERSION,
    description="Every choice of the evaluation items scored under the base model and each checkpoint's "
    "heads in one multi-adapter pass (cached scores reused), staged for `likra_eval`.",
)
def likra_eval_scores(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, likra: LikraSettings
) -> dg.MaterializeResult:
    run, _ = handed_over(context, warehouse.db_path, likra.train_config())
    staged = warehouse.staging(SCORES, context.partition_key, fresh=True)
    report = evaluate_run(run, saved_checkpoints(run.out_dir), staged, db=warehouse.db_path)
    return dg.MaterializeResult(
        metadata={
            "run_id": run.run_id,
            "items": report.n_items,
            "adapters": report.adapters,
            "scores": report.n_scores,
            "cached": report.n_cached,
            "forward_tokens": report.forward_tokens,
            "seconds": round(report.compute_seconds, 2),
        }
    )


@benchmark_asset(
    "likra",
    writer=True,
    deps=[likra_eval_scores],
    kinds={"duckdb"},
    code_version=CODE_VERSION,
    description="The run, its checkpoints and their scores in the warehouse; metrics per size, mode and weight "
    "in the view `likra_eval`, with the learning curve plotted.",
)
def likra_eval(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    heads, scores = warehouse.staging(HEADS, context.partition_key), warehouse.staging(SCORES, context.partition_key)
    run_id = heads.read_json("run")["run_id"]
    with connect(warehouse.db_path) as con:
        load_staged(con, heads.folder)
        load_staged(con, scores.folder)
        rows = eval_rows(con, run_id)
        curve = learning_curve(con, run_id)
    final = rows.filter(rows["n_examples"] == rows["n_examples"].max())
    return dg.MaterializeResult(
        metadata={
            "run_id": run_id,
            "dagster/row_count": rows.height,
            **{f"acc/{mode}": round(float(acc), 4) for mode, acc in final.select("mode", "acc").iter_rows()},
            "learning_curve": dg.MetadataValue.md(markdown_table(curve)),
            "plot": dg.MetadataValue.md(
                markdown_image(curve_png(rows, f"{context.partition_key}: {run_id}"), "learning curve")
            ),
        }
    )
