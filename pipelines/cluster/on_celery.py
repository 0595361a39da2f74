"""The code location of a Celery deployment: every step is a Celery task that a `dagster-celery` worker runs.

The broker and result backend come from the environment, the same variables deploy/celery.yaml gives the workers,
so the runs and the workers cannot point at different queues."""

from dagster_celery import celery_executor

from pipelines.definitions import build_definitions

BROKER_ENV = "LIKRA_CELERY_BROKER"  # e.g. redis://queue:6379/0
BACKEND_ENV = "LIKRA_CELERY_BACKEND"  # e.g. redis://queue:6379/1

executor = celery_executor.configured(
    {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}}, name="likra_celery"
)

defs = build_definitions(executor)
