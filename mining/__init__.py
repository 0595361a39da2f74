"""Near-miss negative mining: answer pool, embeddings, nearest-neighbour search, plausibility grading.

Imports `likra` (for scoring) and `warehouse`; never Dagster.
"""
