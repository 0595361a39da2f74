"""E6 what users pick instead: TRL's DPO, trained with LoRA on the same (prompt, gold, negative) pairs, in the
same order and at the same sizes as a Likra run's heads, from the same base model; each checkpoint is
scored by the same engine as plain log-likelihood and plotted on the learning-curve axes.

The toolkit writes no trainer of its own here: `trl.DPOTrainer` trains, with its defaults (sigmoid
loss, reference = the base model with the adapter off), the run's LoRA settings, learning rate, batch
size and constant schedule, and its sampler set to keep the run's order. A callback saves the adapter
whenever the pairs seen reach a size (sizes should be multiples of the batch size), and the Trainer saves
its own state there too (optimizer, RNG, step), so a killed training resumes from the last size it reached.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

from likra.evaluate import evaluate_run
from likra.experiments import plots
from likra.experiments.config import ExperimentConfig
from likra.experiments.curves import CURVE_MODES, eval_results, paired_section, run_outcomes, train_seeds, wide
from likra.experiments.paired import adapter_outcomes
from likra.experiments.store import ExperimentResult, Say, accuracy_rows, results_frame
from likra.exports import preference_pairs, set_rows
from likra.heads import Checkpoint, add_heads, save_checkpoint, saved_checkpoints, tokenizer_fingerprint
from likra.models import load_model
from likra.runs import Run
from likra.train import checkpoint_sizes, learning_rate
from warehouse.db import connect_read_only
from warehouse.location import DbRef
from warehouse.sinks import WarehouseSink

HEAD = "dpo"
PEFT_NAME = "default"  # the adapter name TRL's DPOTrainer expects on a peft model
DPO_COMPARISONS = (("dpo", "sft"), ("likra", "dpo"))  # what users pick instead, against SFT and Likra
PAIRED_COLUMNS = ["series", "n_examples", "seed", "item_id", "correct", "correct_norm"]
STATE = "trainer"  # the Trainer's resumable state at the last size reached, removed once every size is saved


def dpo_dir(run: Run, config: ExperimentConfig) -> Path:
    """Where the DPO adapters trained on a run's pairs live (beside the run, named by the DPO settings)."""
    return (
        run.out_dir.parent / f"{run.run_id}.dpo-beta{config.dpo_beta:g}-lr{_lr_label(config.dpo_lr or run.config.lr)}"
    )


def _lr_label(lr: float | None) -> str:
    return "auto" if lr is None else f"{lr:g}"  # auto: the model's size decides, and the run id names the model


def latest_state(state_dir: Path) -> tuple[int, Path] | None:
    """The Trainer's latest whole checkpoint (step, folder): its state file, written after the weights and
    optimizer, parses."""
    steps = []
    for path in state_dir.glob("checkpoint-*"):
        try:
            steps.append((json.loads((path / "trainer_state.json").read_text())["global_step"], path))
        except (OSError, ValueError, KeyError):
            continue  # killed while it was being written: the one before it is resumed from
    return max(steps) if steps else None


def train_dpo(
    run: Run, pairs: pl.DataFrame, config: ExperimentConfig, folder: Path, say: Say = None
) -> list[Checkpoint]:
    """DPO adapters at the run's sizes (cached: sizes already saved are not trained again; a killed training
    resumes from the last size it reached)."""
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import PrinterCallback, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    settings = run.config
    sizes = checkpoint_sizes(settings.sizes, pairs.height)
    if {c.n_examples for c in saved_checkpoints(folder)} >= set(sizes):
        return saved_checkpoints(folder)
    loaded = load_model(settings.model, dtype=settings.dtype)
    model = add_heads(loaded, settings.lora, settings.seed, (PEFT_NAME,)).model
    provenance = {
        "base_model": run.model,
        "tokenizer": tokenizer_fingerprint(loaded.tokenizer),
        "run_id": run.run_id,
        "benchmark": run.benchmark,
        "policy": settings.policy,
        "set_id": run.set_id,
        "seed": settings.seed,
        "trainer": "trl.DPOTrainer",
        "beta": config.dpo_beta,
    }
    per_step = settings.batch_size * settings.grad_accum

    class SaveAtSizes(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            seen = min(state.global_step * per_step, pairs.height)
            if seen in sizes:
                save_checkpoint(
                    kwargs["model"],
                    PEFT_NAME,
                    folder / HEAD / f"n-{seen:06d}",
                    {**provenance, "n_examples": seen},
                    settings.model,
                    label=HEAD,
                )
                if say:
                    say(f"dpo: saved at {seen} pairs")
                control.should_save = True  # and the Trainer's state, to resume from
            return control

    class InRunOrder(DPOTrainer):
        def _get_train_sampler(self, *args, **kwargs):  # the run's order, as Likra's heads saw it
            return SequentialSampler(self.train_dataset)

    tokenizer = loaded.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = Dataset.from_polars(pairs.head(sizes[-1]).select("prompt", "chosen", "rejected"))
    state_dir = folder / STATE
    resume = latest_state(state_dir)
    if resume and say:
        say(f"dpo: resuming at {resume[0] * per_step} pairs")
    args = DPOConfig(
        output_dir=str(state_dir),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=config.dpo_lr or learning_rate(loaded, settings),
        lr_scheduler_type="constant",
        warmup_steps=0,
        num_train_epochs=1,
        beta=config.dpo_beta,
        max_grad_norm=settings.max_grad_norm,
        seed=settings.seed,
        save_strategy="no",  # the callback asks for a save at each size
        save_total_limit=1,
        report_to=[],
        logging_steps=max(1, sizes[-1] // per_step // 4),
        disable_tqdm=True,
        use_cpu=loaded.device.type == "cpu",
        bf16=str(loaded.dtype) == "torch.bfloat16",
    )
    trainer = InRunOrder(
        model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[SaveAtSizes()]
    )
    trainer.remove_callback(PrinterCallback)  # the experiment reports its own progress
    trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
    shutil.rmtree(state_dir, ignore_errors=True)
    return saved_checkpoints(folder)


def dpo_baseline(benchmark: str, config: ExperimentConfig, *, db: DbRef = None, say: Say = None) -> ExperimentResult:
    """E6: DPO on the same pairs at the same sizes, plain log-likelihood accuracy, against E1's curves."""
    reports = train_seeds(benchmark, config, db=db, say=say)
    rows, runs, outcomes = [], [], [run_outcomes(db, reports)]
    for report in reports:
        run = report.run
        with connect_read_only(db) as con:
            pairs = preference_pairs(set_rows(con, run.set_id))
        checkpoints = train_dpo(run, pairs, config, dpo_dir(run, config), say)
        evaluate_run(run, checkpoints, WarehouseSink(db), db=db)
        with connect_read_only(db) as con:
            adapters = {c.adapter: (run.config.seed, c.n_examples) for c in checkpoints}
            scored = adapter_outcomes(con, run.model, run.fewshot, adapters, "dpo")
        outcomes.append(scored)
        per_size = scored.group_by("n_examples").agg(
            pl.len().alias("n_items"), pl.col("correct").mean(), pl.col("correct_norm").mean()
        )
        for n, n_items, acc, norm in per_size.iter_rows():
            common = {
                "series": "dpo",
                "seed": run.config.seed,
                "n_examples": n,
                "n_items": n_items,
                "run_id": run.run_id,
            }
            rows += accuracy_rows(common, acc, norm, n_items)
        runs.append(run.run_id)
    results = pl.concat([eval_results(db, reports), results_frame(rows)])
    acc = results.filter(pl.col("metric") == "acc")
    base_at_zero = acc.filter((pl.col("series") == "base") & (pl.col("n_examples") == 0)).with_columns(
        pl.lit("dpo").alias("series")
    )
    curves = pl.concat([acc, base_at_zero])  # DPO at 0 pairs is the base model too
    largest = acc["n_examples"].max()
    final = (
        acc.filter(pl.col("n_examples") == largest)
        .group_by("series")
        .agg(pl.col("value").mean(), pl.col("stderr").mean())
        .sort("series")
    )
    summary = {f"final_acc/{s}": round(float(v), 4) for s, v, _ in final.iter_rows()}
    report = "\n\n".join(
        [
            f"# Likra against DPO on the same pairs: {benchmark}",
            f"TRL DPO (beta {config.dpo_beta}, LoRA and learning rate as the Likra run, constant schedule, the run's "
            f"order) on the same (prompt, gold, negative) pairs, scored as plain log-likelihood; seeds {config.seeds}.",
            "acc (argmax of the log-likelihood):",
            plots.table(wide(curves)),
            paired_section(
                pl.concat([o.select(PAIRED_COLUMNS) for o in outcomes], how="vertical_relaxed"),
                DPO_COMPARISONS,
                config.seeds,
            ),
            "![likra and dpo](dpo_baseline.png)",
        ]
    )
    return ExperimentResult(
        "dpo-baseline",
        benchmark,
        config,
        results,
        runs,
        {
            "dpo_baseline.png": plots.curves(
                curves, (*CURVE_MODES, "dpo"), f"{benchmark}: Likra and DPO on the same pairs"
            )
        },
        report,
        summary,
    )
