"""The code location of a Kubernetes deployment: every step runs as a Kubernetes Job of its own.

The executor's settings (namespace, image, the GPU request of the model steps) are run config:
deploy/k8s/run_config.yaml."""

from dagster_k8s import k8s_job_executor

from pipelines.definitions import build_definitions

# The steps that run a language model: scoring, plausibility grading, training and evaluation scoring.
MODEL_STEPS = ("base_scores", "candidate_scores", "likra_heads", "likra_eval_scores")

defs = build_definitions(k8s_job_executor)
