"""The Likra study of docs/study-plan.md, part by part: SmolLM2-135M-Instruct on the ARC-Easy sample, 25-shot
evaluation with exemplars from training questions, lr 1e-3, three seeds, and the hypotheses' verdicts.

Every part is resumable: runs are named by their settings and data, a killed training continues from its last
checkpoint, and scores are cached, so running a part again only does what is missing. Each part appends its
wall time and the load average to docs/study/timings.md.

    python bench/study.py prepare     # ingest ARC-Easy (and HellaSwag, the other benchmark); mine ARC-Easy
    python bench/study.py e1          # E1 learning curves, 3 seeds, 8..1024; then E2, E4, E5 from the same runs
    python bench/study.py e3          # E3 negative arms at 128 and 512, 3 seeds (random comes from E1's runs)
    python bench/study.py e6          # E6 DPO on the same pairs, 3 seeds
    python bench/study.py side-lr     # E1 at lr 3e-4 and 3e-3, one seed, 64..1024 (--lr 3e-3: only that one)
    python bench/study.py gemma       # E1 on Gemma 3 270M, one seed
    python bench/study.py verdicts    # the hypotheses table: docs/study/verdicts.md and .json
    python bench/study.py estimate    # the CPU time each part needs, from this machine's measured speeds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from likra.config import TrainConfig
from likra.experiments import ExperimentConfig, run_experiment
from likra.experiments.study import MAIN_SIZES, TYPE_SIZES, study_verdicts, verdict_markdown
from mining.run import mine_benchmark
from warehouse.db import connect_read_only
from warehouse.ingest import ingest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
REPO = Path(__file__).resolve().parents[1]
BENCHMARK, OTHER = "arc_easy", "hellaswag"
SEEDS = [1, 2, 3]
SIDE_LRS = [3e-4, 3e-3]
# The side learning rates are read where the hypotheses are (64, 128, 1024) and at 256, so that their evaluation
# (the bulk of a run's time) fits beside the main parts: 9 adapters scored instead of 17.
SIDE_SIZES = [64, 128, 256, 1024]
EVAL_ITEMS, HOLDOUT = 500, 0.45
ARMS = ["first", "most_plausible", "other_question", "other_benchmark", "mined_near_miss"]
# The verifier leaves a mined cross-question near miss for 271 of the 1,085 training questions, so that arm
# cannot reach 512 examples per head: it trains at 128 and 256 and H6b is read at 256 (random at 256 is E1's).
ARM_SIZES = {"mined_near_miss": [128, 256]}


def main_config(
    model: str = "smollm2", lr: float | None = None, seeds: list[int] = SEEDS, sizes: list[int] = MAIN_SIZES
) -> ExperimentConfig:
    """The study's main setting (lr None: the paper's rate for the model's size, 1e-3 here)."""
    train = TrainConfig(model=model, lr=lr, sizes=sizes, eval_limit=EVAL_ITEMS, holdout=HOLDOUT, other_benchmark=OTHER)
    return ExperimentConfig(train=train, seeds=seeds, policies=ARMS)


def sized(config: ExperimentConfig, sizes: list[int], policies: list[str]) -> ExperimentConfig:
    """The config trained at other sizes, for these negative policies."""
    return config.model_copy(update={"train": config.train.model_copy(update={"sizes": sizes}), "policies": policies})


def part_plans(part: str, side_lrs: list[float] = SIDE_LRS) -> list[tuple[str, str, ExperimentConfig]]:
    """(output folder, experiment, config) for each experiment of a part."""
    main = main_config()
    if part == "e1":
        return [("e1", name, main) for name in ("learning-curve", "gain", "weight-sweep", "likelihood-shift")]
    if part == "e3":
        arms = [arm for arm in ARMS if arm not in ARM_SIZES]
        plans = [("e3", "negative-types", sized(main, TYPE_SIZES, arms))]
        return plans + [(f"e3-{arm}", "negative-types", sized(main, sizes, [arm])) for arm, sizes in ARM_SIZES.items()]
    if part == "e6":
        return [("e6", "dpo-baseline", main)]
    if part == "side-lr":
        return [(f"lr-{lr:g}", "learning-curve", main_config(lr=lr, seeds=[1], sizes=SIDE_SIZES)) for lr in side_lrs]
    if part == "gemma":
        return [("gemma", name, main_config(model="gemma3", seeds=[1])) for name in ("learning-curve", "gain")]
    raise SystemExit(f"unknown part {part!r}")


def prepare(db: Path) -> None:
    """The data: the whole ARC-Easy sample, HellaSwag for the other-benchmark arm, ARC-Easy's graded negatives."""
    ingest(BENCHMARK, db=db, path=SAMPLES / BENCHMARK)
    ingest(OTHER, db=db, path=SAMPLES / OTHER)
    with connect_read_only(db) as con:
        mined = con.execute("SELECT count(*) FROM graded_negatives WHERE benchmark = ?", [BENCHMARK]).fetchone()[0]
    if not mined:
        mine_benchmark(BENCHMARK, db=db, progress=lambda message: print(f"  {message}", flush=True))


def record(out: Path, part: str, seconds: float) -> None:
    """Append a part's wall time and the load average to the timings table."""
    path = out / "timings.md"
    if not path.exists():
        path.write_text("| finished | part | wall seconds | load average (1, 5, 15 min) |\n|---|---|---|---|\n")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    with path.open("a") as handle:
        handle.write(f"| {datetime.now():%Y-%m-%d %H:%M} | {part} | {seconds:.0f} | {load} |\n")


def estimate() -> None:
    """CPU time per part from the measured speeds of this machine (bench/likra_training.py, bench/fewshot_cost.py)."""
    train_rate, score_rate = 5.46, 45.0 / 1.4  # examples/s per head; 25-shot choice scores/s (0-shot rate / ratio)
    choices = EVAL_ITEMS * 4

    def curve(sizes: list[int]) -> float:  # two heads trained to the largest size; base + each head scored
        return 2 * max(sizes) / train_rate + (2 * len(sizes) + 1) * choices / score_rate

    e1 = curve(MAIN_SIZES)
    e3 = 2 * max(TYPE_SIZES) / train_rate + 2 * len(TYPE_SIZES) * choices / score_rate
    parts = {
        "e1 (3 seeds)": 3 * e1,
        f"e3 ({len(ARMS)} arms x 3 seeds)": len(ARMS) * 3 * e3,
        "e6 (3 seeds, DPO ~3x a head)": 3 * (3 * max(MAIN_SIZES) / train_rate + len(MAIN_SIZES) * choices / score_rate),
        "side-lr (2 x 1 seed)": 2 * curve(SIDE_SIZES),
        "gemma (1 seed, ~2.5x)": 2.5 * e1,
    }
    for name, seconds in parts.items():
        print(f"{name}: {seconds / 60:.0f} min")
    print(f"total: {sum(parts.values()) / 3600:.1f} h on an idle 2-core machine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["prepare", "e1", "e3", "e6", "side-lr", "gemma", "verdicts", "estimate"])
    parser.add_argument("--db", default=str(REPO / "data" / "study.duckdb"))
    parser.add_argument("--out", default=str(REPO / "docs" / "study"))
    parser.add_argument("--lr", type=float, choices=SIDE_LRS, help="side-lr only: run this learning rate alone")
    args = parser.parse_args()
    db, out = Path(args.db), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part == "estimate":
        return estimate()
    started = time.perf_counter()
    if args.part == "prepare":
        prepare(db)
    elif args.part == "verdicts":
        found = study_verdicts(db, main_config(), {arm: arm for arm in ARMS}, TYPE_SIZES, arm_sizes=ARM_SIZES)
        (out / "verdicts.json").write_text(json.dumps(found, indent=2) + "\n")
        (out / "verdicts.md").write_text(verdict_markdown(found))
        print(verdict_markdown(found))
    else:
        for folder, name, config in part_plans(args.part, [args.lr] if args.lr else SIDE_LRS):
            print(f"{args.part}: {name} ({folder})", flush=True)
            result = run_experiment(name, BENCHMARK, config, db=db, say=lambda m: print(f"  {m}", flush=True))
            target = out / folder / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(result.output_dir, target)
            print(result.report.split("![")[0], flush=True)
    record(out, f"{args.part} lr {args.lr:g}" if args.lr else args.part, time.perf_counter() - started)


if __name__ == "__main__":
    main()
