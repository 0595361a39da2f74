"""The code location of a Kubernetes deployment: every step runs as a Kubernetes Job of its own.

The executor's settings (namespace, image, the GPU request of the model steps) are run config:
deploy/k8s/run_config.yaml."""

from dagster_k8s import k8s_job_executor

from pipelines.definitions import build_definitions

# The steps that run a language model: scoring and plausibility grading (each chunk of a fanned-out partition:
# the executor matches per-step settings by op name), training and evaluation scoring.
MODEL_STEPS = ("base_scores_chunk", "candidate_scores_chunk", "likra_heads", "likra_eval_scores")

defs = build_definitions(k8s_job_executor)
