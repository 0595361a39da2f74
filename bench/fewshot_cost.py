"""What few-shot evaluation costs: 25-shot against 0-shot scoring of the same ARC-Easy items under base and two
LoRA heads (SmolLM2-135M-Instruct, fp32), in one multi-adapter pass of the scoring engine and in separate
single-adapter passes, all in one run on this machine.

The 25-shot prompts share one exemplar block (the first 25 training questions), which the engine encodes once
per adapter and reuses for every item: the per-item cost should stay within 1.5x of 0-shot. Times are CPU
seconds of this process (wall seconds beside them), so the ratios hold on a machine busy with other work; run
it with one thread (`OMP_NUM_THREADS=1`) for CPU time to mean compute.

    OMP_NUM_THREADS=1 python bench/fewshot_cost.py [--items 200] [--shots 25]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from likra.config import TrainConfig
from likra.data import split_items
from likra.heads import add_heads
from likra.models import load_model
from likra.scoring.engine import Scorer
from likra.scoring.requests import build_requests
from warehouse.db import connect_read_only
from warehouse.ingest import ingest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
ADAPTERS = [None, "positive", "negative"]


def timed(work) -> tuple[float, float]:
    """CPU seconds of this process and wall seconds one call takes."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200, help="evaluation items scored in each measurement")
    parser.add_argument("--shots", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        ingest("arc_easy", db=db, path=SAMPLES / "arc_easy")
        with connect_read_only(db) as con:
            split = split_items(con, "arc_easy", TrainConfig(holdout=0.45))
            items = split.eval[: args.items]
            zero = [r.request for r in build_requests(con, items)]
            shots = [r.request for r in build_requests(con, items, args.shots, exemplars=split.train)]
    loaded = add_heads(load_model(), TrainConfig().lora, 1, ("positive", "negative"))
    loaded.model.eval()
    for module in loaded.model.modules():  # trained-looking heads: B not zero, so adapters really compute
        if hasattr(module, "lora_B"):
            for head in ("positive", "negative"):
                torch.nn.init.normal_(module.lora_B[head].weight, std=0.01)
    scorer = Scorer(loaded)
    scorer.score(shots[:8], adapters=ADAPTERS)  # warm up
    rows = {}
    for label, requests in (("0-shot", zero), (f"{args.shots}-shot", shots)):
        (together, together_wall) = timed(lambda requests=requests: scorer.score(requests, adapters=ADAPTERS))
        (apart, apart_wall) = timed(lambda requests=requests: [scorer.score(requests, adapters=[a]) for a in ADAPTERS])
        rows[label] = together
        print(
            f"{label}: {len(items)} items ({len(requests)} choices) x 3 adapters: one pass {together:6.1f} CPU s "
            f"({together_wall:6.1f} wall, {3 * len(requests) / together:5.1f} scores per CPU s), separate passes "
            f"{apart:6.1f} CPU s ({apart_wall:6.1f} wall, {3 * len(requests) / apart:5.1f} scores per CPU s); "
            f"separate / one pass = {apart / together:.2f}"
        )
    ratio = rows[f"{args.shots}-shot"] / rows["0-shot"]
    print(
        f"{args.shots}-shot / 0-shot CPU time per item (one pass): {ratio:.2f} (target: at most 1.5); "
        f"{torch.get_num_threads()} threads"
    )


if __name__ == "__main__":
    main()
