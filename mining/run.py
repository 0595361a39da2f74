"""A mining run, stage by stage: inputs -> embeddings -> candidates -> plausibility -> tiers.

`mine_benchmark` composes the stages for the CLI; the Dagster mining assets call the same stage
functions one asset at a time, handing rows over through a staging folder. Each stage reads what it
needs from the warehouse with a short read-only connection and hands new rows to a sink. Caches make
re-mining cheap: unchanged inputs compute no embedding and no log-likelihood, and a benchmark whose
candidate inputs are unchanged reuses its stored candidates without searching. Candidates are stored
as soon as they are found; the graded negatives replace the previous ones in one transaction at the
end, so a killed run leaves the last good set in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from mining.candidates import CandidateSet, find_candidates
from mining.config import MiningConfig
from mining.embeddings import embed_missing, load_vectors
from mining.grading import MARGIN_COLUMN, grade, mark_unverified
from mining.inputs import MiningInputs, load_inputs
from mining.plausibility import Plausibility, score_plausibility
from mining.store import stored_candidates, write_candidates, write_graded
from mining.summary import MiningSummary, summarize
from mining.verify import OWN_DISTRACTOR, verify
from warehouse.db import connect, connect_read_only, warehouse_exists
from warehouse.location import DbRef
from warehouse.sinks import Sink, WarehouseSink

NOTHING_EMBEDDED = {"cached": 0, "computed": 0}


@dataclass
class CandidateStage:
    """A benchmark's candidates and how they were obtained."""

    found: CandidateSet
    embeddings: dict[str, int]  # cached / computed
    reused_from: str | None = None  # the run that found them, when the inputs were unchanged


def reusable_candidates(db: DbRef, inputs: MiningInputs) -> CandidateStage | None:
    """The stored candidate set if it was mined from exactly these inputs and settings, else None."""
    with connect_read_only(db) as con:
        stored = stored_candidates(con, inputs.benchmark, inputs.key)
    return None if stored is None else CandidateStage(stored.found, dict(NOTHING_EMBEDDED), reused_from=stored.run_id)


def candidate_stage(
    db: DbRef,
    inputs: MiningInputs,
    config: MiningConfig,
    run_id: str,
    *,
    reuse: bool = True,
    sink: Sink | None = None,
) -> CandidateStage:
    """The benchmark's candidates: the stored set when nothing it depends on changed, else the missing
    embeddings computed (into `sink`), the pool searched, and the new set stored at once (so a later
    failure does not lose it)."""
    sink = sink or WarehouseSink(db)
    stage = reusable_candidates(db, inputs) if reuse else None
    if stage is not None:
        sink.write(question_keys=inputs.groups.new_keys)  # the `question_groups` view lists the twins mining used
        return stage
    fresh, counts = embed_missing(db, config.embedder, inputs.texts, sink)
    found = find_candidates(inputs, load_vectors(db, config.embedder, inputs.texts, fresh), config)
    # Written once the embedder has worked, so a run that cannot load it leaves the warehouse as it was.
    sink.write(question_keys=inputs.groups.new_keys)
    with connect(db) as con:
        write_candidates(con, inputs.benchmark, run_id, found, inputs.key)
    return CandidateStage(found, counts)


def verified(
    db: DbRef,
    inputs: MiningInputs,
    graded: pl.DataFrame,
    config: MiningConfig,
    summary: MiningSummary,
) -> pl.DataFrame:
    """The graded rows with the verifier's suspects moved to the tier `unverified`; its counts go in the summary."""
    mined = graded.filter(pl.col("origin") != OWN_DISTRACTOR)
    vectors: dict = {}
    if config.verifier.enabled and not mined.is_empty():
        vectors = load_vectors(db, config.embedder, inputs.texts)
        vectors.update({alias: vectors[target] for alias, target in inputs.aliases.items()})
    verification = verify(
        graded, inputs.items, inputs.known_true, vectors, config.verifier, MARGIN_COLUMN[config.tiers.measure]
    )
    summary.verifier = dict(verification.flagged)
    return mark_unverified(graded, verification.unverified_by)


def grade_and_store(
    db: DbRef,
    summary: MiningSummary,
    inputs: MiningInputs,
    stage: CandidateStage,
    plausibility: Plausibility,
    config: MiningConfig,
    started: datetime,
) -> pl.DataFrame:
    """Tier every scored candidate, complete the run's summary, and replace the benchmark's graded negatives."""
    graded = verified(db, inputs, grade(plausibility.frame, config.tiers), config, summary)
    summary.logliks = plausibility.logliks
    summarize(summary, inputs.items, stage.found, graded, inputs.groups, config.tiers.measure)
    summary.seconds = round((datetime.now() - started).total_seconds(), 3)
    with connect(db) as con:
        write_graded(con, summary, config, graded, started)
    return graded


def mine_benchmark(
    benchmark: str,
    *,
    db: DbRef = None,
    config: MiningConfig | None = None,
    progress: Callable[[str], None] | None = None,
    reuse: bool = True,
) -> MiningSummary:
    """Mine, score and grade negatives for every item of a benchmark; store them; report.

    `reuse=False` searches again even when the stored candidates were mined from unchanged inputs.
    """
    config = config or MiningConfig()
    started = datetime.now()
    if warehouse_exists(db):  # a run writes the warehouse anyway: bring an older schema up to date first
        connect(db).close()
    summary = MiningSummary(uuid.uuid4().hex, benchmark, config.digest())
    say = progress or (lambda message: None)
    inputs = load_inputs(db, benchmark, config)
    say(f"{len(inputs.items)} items, answer pool of {inputs.pool.height} distinct answers")
    stage = candidate_stage(db, inputs, config, summary.run_id, reuse=reuse)
    summary.embeddings, summary.candidates_from = stage.embeddings, stage.reused_from
    if stage.reused_from:
        say(
            f"candidates: {stage.found.frame.height}, unchanged since run {stage.reused_from} (no embedding, no search)"
        )
    else:
        say(f"embeddings: {stage.embeddings['cached']} cached, {stage.embeddings['computed']} computed")
        say(f"candidates: {stage.found.frame.height}; removed {dict(stage.found.removed)}")
    plausibility = score_plausibility(db, config, inputs.items, stage.found.frame, WarehouseSink(db))
    say(f"log-likelihoods: {plausibility.logliks['cached']} cached, {plausibility.logliks['computed']} computed")
    grade_and_store(db, summary, inputs, stage, plausibility, config, started)
    return summary
