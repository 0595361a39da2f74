"""Likra: the log-likelihood scoring engine (`likra.scoring`) and model loading; the two-head
(positive/negative LoRA) model, its training and evaluation build on them.

Imports only `warehouse`; never `mining` or Dagster.
"""
