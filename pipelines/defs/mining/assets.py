"""Mining assets: Dagster wiring around the stages in `mining.run`. Embeddings and LM scores are computed
outside the writer pool and staged; the writers (`candidates`, `graded_negatives`) load them in short
steps inside it. The settings come from the `mining` resource, shared by every mining asset of a run."""

from datetime import datetime

import dagster as dg

from mining.config import MiningConfig
from mining.embeddings import embed_missing
from mining.errors import MiningError
from mining.fanout import chunk_share, merge_plausibility, plausibility_chunks
from mining.inputs import load_inputs
from mining.plausibility import Plausibility, score_plausibility
from mining.report import (
    guard_table,
    histogram_png,
    near_miss_table,
    negatives_quality,
    quality_line,
    statistics_table,
    tier_table,
)
from mining.run import NOTHING_EMBEDDED, candidate_stage, grade_and_store, reusable_candidates
from mining.summary import MiningSummary
from pipelines.defs.checks import keys_unique_result, keys_unique_spec, zero_check
from pipelines.defs.ingest.assets import items
from pipelines.defs.metadata import markdown_image, markdown_table
from pipelines.defs.partitions import benchmark_asset, benchmark_partitions
from pipelines.defs.resources import WarehouseResource
from pipelines.defs.scoring.assets import choice_scores
from pipelines.defs.settings import MINING_DEFAULTS, MiningSettings
from warehouse.db import connect, connect_read_only
from warehouse.keys import duplicate_keys
from warehouse.sinks import load_staged, restage

CODE_VERSION = MINING_DEFAULTS.digest()  # changed default settings mark every mining asset as changed in the UI
EMBEDDINGS, SCORES = "mining_embeddings", "mining_scores"


@benchmark_asset(
    "mining",
    deps=[items],
    kinds={"sentence_transformers"},
    code_version=CODE_VERSION,
    description="Embeddings of every answer in the pool and every question, computed where the cache "
    "(table `text_embeddings`) lacks them and staged for the `candidates` writer. Skipped when the stored "
    "candidates were mined from unchanged inputs.",
)
def answer_embeddings(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mining: MiningSettings
) -> dg.MaterializeResult:
    config = mining.mining_config()
    inputs = load_inputs(warehouse.db_path, context.partition_key, config)
    staged = warehouse.staging(EMBEDDINGS, context.partition_key, fresh=True)
    staged.write(question_keys=inputs.groups.new_keys)  # the `question_groups` view lists the twins mining used
    reusable = reusable_candidates(warehouse.db_path, inputs)
    if reusable is not None:
        counts = dict(NOTHING_EMBEDDED)
        context.log.info(f"candidates unchanged since run {reusable.reused_from}: no embedding needed")
    else:
        _, counts = embed_missing(warehouse.db_path, config.embedder, inputs.texts, staged)
    staged.write_json("counts", counts)
    return dg.MaterializeResult(
        metadata={
            "pool_answers": inputs.pool.height,
            "texts": len(inputs.texts),
            "embeddings_cached": counts["cached"],
            "embeddings_computed": counts["computed"],
            "candidates_unchanged": reusable is not None,
            "embedder": config.embedder,
        }
    )


@benchmark_asset(
    "mining",
    writer=True,
    deps=[answer_embeddings],
    kinds={"faiss", "duckdb"},
    code_version=CODE_VERSION,
    description="Candidate negatives per item (own distractors, nearest answers of other questions, BM25 "
    "matches) after the false-negative filters; table `candidates`. Reused without searching while the "
    "benchmark's items, the answer pool and the candidate settings are unchanged (table `candidate_sets`).",
)
def candidates(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mining: MiningSettings
) -> dg.MaterializeResult:
    config = mining.mining_config()
    with connect(warehouse.db_path) as con:
        load_staged(con, warehouse.staging(EMBEDDINGS, context.partition_key).folder)
    inputs = load_inputs(warehouse.db_path, context.partition_key, config)
    stage = candidate_stage(warehouse.db_path, inputs, config, context.run.run_id)  # every embedding is cached now
    found = stage.found
    by_origin = {o: int(n) for o, n in found.frame.group_by("origin").len().iter_rows()}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": found.frame.height,
            "by_origin": by_origin,
            "removed_by_filter": dict(found.removed),
            "items_without_candidates": found.items_without,
            "found_by_run": stage.reused_from or context.run.run_id,
            "reused": stage.reused_from is not None,
        }
    )


def _chunk_inputs(warehouse: WarehouseResource, benchmark: str, config: MiningConfig):
    """The benchmark's inputs and the stored candidates they still match (else the partition must be re-mined)."""
    inputs = load_inputs(warehouse.db_path, benchmark, config)
    stage = reusable_candidates(warehouse.db_path, inputs)
    if stage is None:
        raise MiningError(
            f"the stored candidates of {inputs.benchmark!r} were mined from other items, answers or "
            "settings: materialise `candidates` for this partition first"
        )
    return inputs, stage


@dg.op(ins={"candidates": dg.In(dg.Nothing), "choice_scores": dg.In(dg.Nothing)}, out=dg.DynamicOut(dict))
def candidate_scores_plan(context: dg.OpExecutionContext, warehouse: WarehouseResource, mining: MiningSettings):
    """One chunk of item ids per step (setting `chunk_items`; default one chunk)."""
    warehouse.clear_chunks(SCORES, context.partition_key)
    _, stage = _chunk_inputs(warehouse, context.partition_key, mining.mining_config())
    for index, item_ids in enumerate(plausibility_chunks(stage.found.frame, mining.chunk_items)):
        yield dg.DynamicOutput(
            {"index": index, "item_ids": item_ids, "found_by": stage.reused_from}, mapping_key=str(index)
        )


@dg.op
def candidate_scores_chunk(
    context: dg.OpExecutionContext, warehouse: WarehouseResource, mining: MiningSettings, chunk: dict
) -> dict:
    """Grade one chunk's candidates (the model steps: a GPU each on Kubernetes), staging its rows."""
    config = mining.mining_config()
    inputs, stage = _chunk_inputs(warehouse, context.partition_key, config)
    if stage.reused_from != chunk["found_by"]:
        raise MiningError(
            f"the candidates of {inputs.benchmark!r} changed while they were graded: materialise "
            "`candidate_scores` for this partition again"
        )
    chunk_items, chunk_candidates = chunk_share(inputs.items, stage.found.frame, chunk["item_ids"])
    staged = warehouse.chunk_staging(SCORES, context.partition_key, chunk["index"])
    plausibility = score_plausibility(warehouse.db_path, config, chunk_items, chunk_candidates, staged)
    staged.write(plausibility=plausibility.frame)
    return plausibility.logliks


@dg.op(out=dg.Out(dg.Nothing))
def candidate_scores_merge(context: dg.OpExecutionContext, warehouse: WarehouseResource, logliks: list[dict]):
    """The chunks' cache rows and plausibility, staged together for the `graded_negatives` writer."""
    staged = warehouse.staging(SCORES, context.partition_key, fresh=True)
    chunks = warehouse.staged_chunks(SCORES, context.partition_key)
    for chunk in chunks:
        restage(chunk, staged)
    plausibility = merge_plausibility(
        [Plausibility(chunk.read("plausibility"), counts) for chunk, counts in zip(chunks, logliks, strict=True)]
    )
    staged.write(plausibility=plausibility.frame)
    staged.write_json("logliks", plausibility.logliks)
    yield dg.Output(
        None,
        metadata={
            "chunks": len(chunks),
            "logliks_cached": plausibility.logliks["cached"],
            "logliks_computed": plausibility.logliks["computed"],
            "model": plausibility.logliks["model"],
        },
    )


@dg.graph_asset(
    partitions_def=benchmark_partitions,
    ins={
        "candidates": dg.AssetIn(key=candidates.key, dagster_type=dg.Nothing),
        "choice_scores": dg.AssetIn(key=choice_scores.key, dagster_type=dg.Nothing),
    },
    group_name="mining",
    kinds={"pytorch"},
    code_version=CODE_VERSION,
    description="Base-model log-likelihood of every candidate and gold answer, from the cache or computed "
    "by the scoring engine, staged with the candidates' plausibility for the `graded_negatives` writer. With the "
    "mining setting `chunk_items`, chunks of items are graded by steps of their own.",
)
def candidate_scores(candidates, choice_scores):
    return candidate_scores_merge(
        candidate_scores_plan(candidates=candidates, choice_scores=choice_scores).map(candidate_scores_chunk).collect()
    )


@benchmark_asset(
    "mining",
    writer=True,
    deps=[candidate_scores],
    kinds={"duckdb"},
    code_version=CODE_VERSION,
    description="Graded negatives (table `graded_negatives`, view `near_misses`): similarity, plausibility, rank "
    "and margin to the gold answer, tier; the run's summary is in `mining_runs`.",
    check_specs=[
        dg.AssetCheckSpec(
            "no_negative_equals_gold",
            asset="graded_negatives",
            blocking=True,
            description="no negative equals a true answer of its item or of a twin question, after normalisation",
        ),
        dg.AssetCheckSpec(
            "no_null_scores",
            asset="graded_negatives",
            blocking=True,
            description="every negative has its similarity and plausibility scores",
        ),
        keys_unique_spec("graded_negatives", "item and normalised negative"),
        dg.AssetCheckSpec(
            "items_have_negatives",
            asset="graded_negatives",
            description="items left without any negative (warns above 5%)",
        ),
    ],
)
def graded_negatives(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mining: MiningSettings
) -> dg.MaterializeResult:
    benchmark, started, config = context.partition_key, datetime.now(), mining.mining_config()
    scores = warehouse.staging(SCORES, benchmark)
    with connect(warehouse.db_path) as con:
        load_staged(con, scores.folder)
    inputs = load_inputs(warehouse.db_path, benchmark, config)
    stage = reusable_candidates(warehouse.db_path, inputs)
    if stage is None:
        raise MiningError(
            f"the candidates of {benchmark!r} changed since they were scored: "
            "materialise `candidates` and `candidate_scores` for this partition again"
        )
    summary = MiningSummary(
        context.run.run_id,
        benchmark,
        config.digest(),
        embeddings=warehouse.staging(EMBEDDINGS, benchmark).read_json("counts"),
        candidates_from=stage.reused_from if stage.reused_from != context.run.run_id else None,
    )
    plausibility = Plausibility(scores.read("plausibility"), scores.read_json("logliks"))
    graded = grade_and_store(warehouse.db_path, summary, inputs, stage, plausibility, config, started)
    with connect_read_only(warehouse.db_path) as con:
        duplicates = duplicate_keys(con, "graded_negatives", benchmark)
    quality = negatives_quality(graded, inputs.items, inputs.known_true)
    false_negatives = summary.quality["false_negatives"]
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
            "statistics": dg.MetadataValue.md(markdown_table(statistics_table(summary))),
            "by_origin_and_tier": dg.MetadataValue.md(markdown_table(tier_table(summary))),
            "histograms": dg.MetadataValue.md(
                markdown_image(histogram_png(graded, config.tiers.measure), "similarity and plausibility by tier")
            ),
            "quality": dg.MetadataValue.md(quality_line(summary)),
            "removed_by_guard": dg.MetadataValue.md(markdown_table(guard_table(summary))),
            "false_negative_rate": false_negatives["rate"],
            "twin_groups": summary.quality["twin_groups"],
            "top_near_misses": dg.MetadataValue.md(markdown_table(near_miss_table(summary))),
        },
        check_results=[
            zero_check("no_negative_equals_gold", quality.equal_to_gold, "equal_to_gold"),
            zero_check("no_null_scores", quality.null_scores, "null_scores"),
            keys_unique_result(duplicates),
            dg.AssetCheckResult(
                check_name="items_have_negatives",
                passed=quality.lacking_share() <= 0.05,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"items_without_negatives": quality.items_without, "items": quality.n_items},
            ),
        ],
    )
