"""Likra: the log-likelihood scoring engine, the two-head (positive/negative LoRA) model, training and evaluation.

Imports only `warehouse`; never `mining` or Dagster.
"""
