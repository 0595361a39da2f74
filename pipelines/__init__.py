"""Dagster definitions and the `likra` CLI: thin shells over `mining`, `likra` and `warehouse`."""
