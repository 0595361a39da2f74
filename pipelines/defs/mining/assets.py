"""Mining assets: embeddings and LM scores are computed outside the writer pool and staged; the
writers (`candidates`, `graded_negatives`) load them in short steps inside it."""

import base64
import io
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl
import yaml

from mining.config import MiningConfig, mining_config
from mining.normalize import norm_hash
from mining.run import (CandidateStage, MiningInputs, WarehouseFrameSink, embed, grade_candidates, load_inputs,
                        mine_candidates, reusable_candidates, save_cache_rows, score_candidates)
from mining.store import write_graded
from mining.summary import MiningSummary, summarize
from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, WarehouseResource
from pipelines.defs.scoring.assets import choice_scores
from warehouse.db import connect
from warehouse.errors import WarehouseError
from warehouse.staging import Staging

CONFIG_ENV = "LIKRA_MINING_CONFIG"


def load_mining_config() -> MiningConfig:
    """The mining configuration: the YAML file named by $LIKRA_MINING_CONFIG, else the defaults."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return MiningConfig()
    return mining_config(**(yaml.safe_load(Path(path).read_text()) or {}))


MINING = load_mining_config()
CODE_VERSION = MINING.digest()  # a changed configuration marks every mining asset as changed in the UI


def staging(warehouse: WarehouseResource, benchmark: str, stage: str, fresh: bool = False) -> Staging:
    """The staging folder of one stage of one benchmark, beside the warehouse file."""
    return Staging(warehouse.path().resolve().parent / "staging" / "mining" / benchmark / stage, fresh=fresh)


def current_candidates(warehouse: WarehouseResource, inputs: MiningInputs) -> CandidateStage:
    """The candidates the `candidates` asset stored for exactly these inputs and settings."""
    _, stage = reusable_candidates(warehouse.db_path, inputs, MINING)
    if stage is None:
        raise WarehouseError(f"the stored candidates of {inputs.benchmark!r} were mined from other items, answers or "
                             "settings: materialise `candidates` for this partition first")
    return stage


@dg.asset(partitions_def=benchmark_partitions, deps=[items], group_name="mining", kinds={"sentence_transformers"},
          code_version=CODE_VERSION,
          description="Embeddings of every answer in the pool and every question, computed where the cache "
          "(table `text_embeddings`) lacks them and staged for the `candidates` writer. Skipped when the stored "
          "candidates were mined from unchanged inputs.")
def answer_embeddings(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    inputs = load_inputs(warehouse.db_path, context.partition_key, MINING)
    stage = staging(warehouse, context.partition_key, "embeddings", fresh=True)
    _, reusable = reusable_candidates(warehouse.db_path, inputs, MINING)
    if reusable is not None:
        counts = {"cached": 0, "computed": 0}
        context.log.info(f"candidates unchanged since run {reusable.reused_from}: no embedding needed")
    else:
        _, counts = embed(warehouse.db_path, MINING, inputs.texts, stage)
    stage.write_json("counts", counts)
    return dg.MaterializeResult(metadata={"pool_answers": inputs.pool.height, "texts": len(inputs.texts),
                                          "embeddings_cached": counts["cached"], "embeddings_computed": counts["computed"],
                                          "candidates_unchanged": reusable is not None, "embedder": MINING.embedder})


@dg.asset(partitions_def=benchmark_partitions, deps=[answer_embeddings], pool=WAREHOUSE_POOL, group_name="mining",
          kinds={"faiss", "duckdb"}, code_version=CODE_VERSION,
          description="Candidate negatives per item (own distractors, nearest answers of other questions, BM25 "
          "matches) after the false-negative filters; table `candidates`. Reused without searching while the "
          "benchmark's items, the answer pool and the candidate settings are unchanged (table `candidate_sets`).")
def candidates(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    benchmark = context.partition_key
    with connect(warehouse.db_path) as con:
        for frame in staging(warehouse, benchmark, "embeddings").frames("text_embeddings"):
            save_cache_rows(con, "text_embeddings", frame)
    inputs = load_inputs(warehouse.db_path, benchmark, MINING)
    stage = mine_candidates(warehouse.db_path, inputs, MINING, context.run.run_id)  # every embedding is cached now
    found = stage.found
    by_origin = {o: int(n) for o, n in found.frame.group_by("origin").len().iter_rows()}
    return dg.MaterializeResult(metadata={"dagster/row_count": found.frame.height, "by_origin": by_origin,
                                          "removed_by_filter": dict(found.removed),
                                          "items_without_candidates": found.items_without,
                                          "found_by_run": stage.reused_from or context.run.run_id,
                                          "reused": stage.reused_from is not None})


@dg.asset(partitions_def=benchmark_partitions, deps=[candidates, choice_scores], group_name="mining",
          kinds={"pytorch"}, code_version=CODE_VERSION,
          description="Base-model log-likelihood of every candidate and gold answer, from the cache or computed "
          "by the scoring engine, staged for the `graded_negatives` writer.")
def candidate_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    benchmark = context.partition_key
    inputs = load_inputs(warehouse.db_path, benchmark, MINING)
    frame = current_candidates(warehouse, inputs).found.frame
    stage = staging(warehouse, benchmark, "scores", fresh=True)
    _, _, counts = score_candidates(warehouse.db_path, MINING, inputs.items, frame, stage)
    stage.write_json("counts", counts)
    return dg.MaterializeResult(metadata={"logliks_cached": counts["cached"], "logliks_computed": counts["computed"],
                                          "model": counts["model"]})


def _histograms(graded: pl.DataFrame) -> str:
    """Markdown with a PNG: similarity to gold and plausibility margin, by tier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for tier, colour in (("far", "#bbbbbb"), ("plausible", "#f0a030"), ("near_miss", "#d03030")):
        part = graded.filter(pl.col("tier") == tier)
        if part.height:
            axes[0].hist(part["sim_gold"].to_numpy(), bins=30, alpha=0.6, label=tier, color=colour)
            axes[1].hist(part["margin_per_token"].to_numpy(), bins=30, alpha=0.6, label=tier, color=colour)
    axes[0].set_xlabel("cosine similarity to the gold answer")
    axes[1].set_xlabel("log-likelihood margin to the gold answer (nats per token)")
    axes[0].legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return f"![similarity and plausibility by tier](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def _table(rows: dict[str, dict]) -> str:
    columns = sorted({c for values in rows.values() for c in values})
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(str(values.get(c, "")) for c in columns) + " |" for name, values in rows.items()]
    return "\n".join(lines)


def _checks(graded: pl.DataFrame, inputs, max_lacking: float) -> list[dg.AssetCheckResult]:
    golds = {(i.item_id, norm_hash(i.choices[g])) for i in inputs.items for g in {i.gold, *(i.golds or ())}}
    equal = sum(1 for key in graded.select("item_id", "norm_hash").iter_rows() if key in golds)
    score_columns = ["loglik", "loglik_per_token", "margin", "margin_per_token", "sim_gold", "sim_question"]
    nulls = graded.select(pl.sum_horizontal(pl.col(c).is_null() | pl.col(c).is_nan() for c in score_columns).sum()).item()
    lacking = len(inputs.items) - graded["item_id"].n_unique()
    return [
        dg.AssetCheckResult(check_name="no_negative_equals_gold", passed=equal == 0, metadata={"equal_to_gold": equal}),
        dg.AssetCheckResult(check_name="no_null_scores", passed=int(nulls) == 0, metadata={"null_scores": int(nulls)}),
        dg.AssetCheckResult(check_name="items_have_negatives", passed=lacking <= max_lacking * len(inputs.items),
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"items_without_negatives": lacking, "items": len(inputs.items)}),
    ]


@dg.asset(
    partitions_def=benchmark_partitions, deps=[candidate_scores], pool=WAREHOUSE_POOL, group_name="mining",
    kinds={"duckdb"}, code_version=CODE_VERSION,
    description="Graded negatives (table `graded_negatives`, view `near_misses`): similarity, plausibility, rank "
    "and margin to the gold answer, tier; the run's summary is in `mining_runs`.",
    check_specs=[
        dg.AssetCheckSpec("no_negative_equals_gold", asset="graded_negatives", blocking=True,
                          description="no negative equals a gold answer of its item after normalisation"),
        dg.AssetCheckSpec("no_null_scores", asset="graded_negatives", blocking=True,
                          description="every negative has its similarity and plausibility scores"),
        dg.AssetCheckSpec("items_have_negatives", asset="graded_negatives",
                          description="items left without any negative (warns above 5%)"),
    ],
)
def graded_negatives(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    benchmark, started = context.partition_key, datetime.now()
    with connect(warehouse.db_path) as con:
        for frame in staging(warehouse, benchmark, "scores").frames("loglik_cache"):
            save_cache_rows(con, "loglik_cache", frame)
    inputs = load_inputs(warehouse.db_path, benchmark, MINING)
    stage = current_candidates(warehouse, inputs)
    # Everything is cached now (the staged scores were just loaded): this computes nothing.
    requests, scores, counts = score_candidates(warehouse.db_path, MINING, inputs.items, stage.found.frame,
                                                WarehouseFrameSink(warehouse.db_path))
    graded = grade_candidates(stage.found.frame, requests, scores, inputs.items, MINING)
    summary = MiningSummary(context.run.run_id, benchmark, CODE_VERSION,
                            embeddings=staging(warehouse, benchmark, "embeddings").read_json("counts"),
                            logliks=staging(warehouse, benchmark, "scores").read_json("counts"),
                            candidates_from=stage.reused_from if stage.reused_from != context.run.run_id else None)
    summarize(summary, inputs.items, stage.found, graded)
    with connect(warehouse.db_path) as con:
        write_graded(con, summary, MINING, graded, started)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": graded.height,
            "by_tier": summary.by_tier,
            "by_origin": summary.by_origin,
            "removed_by_filter": summary.removed,
            "items_without_negatives": summary.items_without_negatives,
            "logliks": summary.logliks,
            "embeddings": summary.embeddings,
            "candidates_reused_from": summary.candidates_from or "",
            "statistics": dg.MetadataValue.md(_table(summary.statistics)),
            "by_origin_and_tier": dg.MetadataValue.md(_table(summary.by_origin_and_tier)),
            "histograms": dg.MetadataValue.md(_histograms(graded)),
        },
        check_results=_checks(graded, inputs, 0.05),
    )
