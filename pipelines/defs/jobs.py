"""Jobs: asset selections users launch from the UI, schedules and sensors."""

import dagster as dg

from pipelines.defs.ingest.assets import items
from pipelines.defs.likra.assets import likra_eval, likra_eval_scores, likra_heads, likra_training_set
from pipelines.defs.mining.assets import answer_embeddings, candidate_scores, candidates, graded_negatives
from pipelines.defs.scoring.assets import base_scores, choice_scores

MINING_ASSETS = [answer_embeddings, candidates, candidate_scores, graded_negatives]
LIKRA_ASSETS = [likra_training_set, likra_heads, likra_eval_scores, likra_eval]

ingest_job = dg.define_asset_job(
    "ingest", selection=[items], description="Ingest one benchmark partition into the warehouse."
)

remine_job = dg.define_asset_job(
    "remine",
    selection=[base_scores, choice_scores, *MINING_ASSETS],
    description="Score and re-mine one benchmark partition (caches make unchanged work free).",
)

refresh_job = dg.define_asset_job(
    "refresh",
    selection=[items, base_scores, choice_scores, *MINING_ASSETS],
    description="Ingest, score and re-mine one benchmark partition: what the benchmark-files sensor runs.",
)

likra_job = dg.define_asset_job(
    "likra",
    selection=LIKRA_ASSETS,
    description="Build the training set, train both heads with learning-curve checkpoints and evaluate them, for one "
    "benchmark partition (settings: the `likra` resource).",
)
