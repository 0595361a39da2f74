"""Jobs: asset selections users launch from the UI, schedules and sensors."""

import dagster as dg

from pipelines.defs.ingest.assets import items
from pipelines.defs.mining.assets import answer_embeddings, candidate_scores, candidates, graded_negatives
from pipelines.defs.scoring.assets import base_scores, choice_scores

MINING_ASSETS = [answer_embeddings, candidates, candidate_scores, graded_negatives]

ingest_job = dg.define_asset_job("ingest", selection=[items], description="Ingest one benchmark partition into the warehouse.")

remine_job = dg.define_asset_job(
    "remine", selection=[base_scores, choice_scores, *MINING_ASSETS],
    description="Score and re-mine one benchmark partition (caches make unchanged work free).")

refresh_job = dg.define_asset_job(
    "refresh", selection=[items, base_scores, choice_scores, *MINING_ASSETS],
    description="Ingest, score and re-mine one benchmark partition: what the benchmark-files sensor runs.")
