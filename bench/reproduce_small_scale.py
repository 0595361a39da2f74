"""Small-scale reproduction of the Likra experiments on this machine: SmolLM2-135M-Instruct (offline), a benchmark
where it is above chance, E1 learning curves, E3 negative types, E4 weight sweep (and E6 DPO with --dpo).

Writes each experiment's report and plots, and a timing table, into an output folder (default
docs/reproduction). Every run and score is cached in the warehouse, so a rerun only redoes what changed.

    python bench/reproduce_small_scale.py [--benchmark arc_easy] [--limit 800] [--eval-limit 200] [--dpo]
        [--lr 1e-3 --only learning-curve,weight-sweep,gain --out docs/reproduction/lr-1e-3]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from likra.config import TrainConfig
from likra.experiments import ExperimentConfig, run_experiment
from mining.config import MiningConfig
from mining.run import mine_benchmark
from warehouse.db import connect_read_only
from warehouse.ingest import ingest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="arc_easy")
    parser.add_argument("--limit", type=int, default=800, help="items ingested (a hold-out half evaluates)")
    parser.add_argument("--eval-limit", type=int, default=200, help="evaluation items scored")
    parser.add_argument("--sizes", default="8,16,32,64,128,256")
    parser.add_argument("--type-sizes", default="64,256", help="E3 sizes (equal N for every policy)")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--lr", type=float, default=1e-4, help="constant learning rate of both heads")
    parser.add_argument("--only", default="", help="comma-separated experiment names to run (default: all)")
    parser.add_argument("--dpo", action="store_true", help="also run E6 (TRL DPO on the same pairs)")
    parser.add_argument("--db", default=str(REPO / "data" / "reproduction.duckdb"))
    parser.add_argument("--out", default=str(REPO / "docs" / "reproduction"))
    args = parser.parse_args()
    db, out = Path(args.db), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    timings: list[tuple[str, float]] = []

    def timed(label: str, work):
        started = time.perf_counter()
        value = work()
        timings.append((label, time.perf_counter() - started))
        print(f"{label}: {timings[-1][1]:.0f} s", flush=True)
        return value

    def say(message: str) -> None:
        print(f"  {message}", flush=True)

    timed("ingest", lambda: ingest(args.benchmark, db=db, path=SAMPLES / args.benchmark, limit=args.limit))
    timed("ingest other benchmark (demo)", lambda: ingest("demo", db=db))
    with connect_read_only(db) as con:
        mined = con.execute("SELECT count(*) FROM graded_negatives WHERE benchmark = ?", [args.benchmark]).fetchone()[0]
    if not mined:
        timed("mine (k 5)", lambda: mine_benchmark(args.benchmark, db=db, config=MiningConfig(k=5)))
    train = TrainConfig(sizes=sizes, eval_limit=args.eval_limit, lr=args.lr)
    curve = ExperimentConfig(train=train, seeds=seeds)
    plans = [
        ("learning-curve", curve),
        ("weight-sweep", curve),
        ("gain", curve),
        (
            "negative-types",
            ExperimentConfig(
                train=train.model_copy(update={"sizes": [int(s) for s in args.type_sizes.split(",")]}), seeds=seeds
            ),
        ),
        ("likelihood-shift", curve),
    ]
    if args.dpo:
        plans.append(("dpo-baseline", curve))
    if args.only:
        plans = [(name, config) for name, config in plans if name in args.only.split(",")]
    for name, config in plans:
        result = timed(
            name, lambda name=name, config=config: run_experiment(name, args.benchmark, config, db=db, say=say)
        )
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(result.output_dir, target)
        print(result.report.split("![")[0], flush=True)
    lines = ["| step | seconds |", "|---|---|"] + [f"| {label} | {seconds:.0f} |" for label, seconds in timings]
    lines.append(f"| total | {sum(s for _, s in timings):.0f} |")
    (out / "timings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
