"""Likra: scoring, the two-head model, its training, evaluation, experiments and exports.

* `likra.scoring`: the log-likelihood scoring engine (exact lm-evaluation-harness numbers, fast);
  `likra.models` loads the causal LMs it scores with;
* the two-head model: a positive and a negative LoRA head on one frozen base (`likra.heads`), the
  negative-choice policies (`likra.policies`) and the training sets both heads share (`likra.data`);
* training (`likra.train`), evaluation (`likra.evaluate`), runs in the warehouse (`likra.runs`) and the
  stage-by-stage workflow (`likra.workflow`), with its settings (`likra.config`);
* experiments E1-E6 (`likra.experiments`), what a run shows its user (`likra.report`) and the shared
  PNG and Markdown table renderers (`likra.rendering`);
* exports: preference pairs, unpaired rows and per-sample evaluation logs (`likra.exports`).

Imports only `warehouse`; never `mining` or Dagster.
"""
