"""Likra training and evaluation speed on SmolLM2-135M-Instruct (the offline default), on this machine.

Training: one head trained with `likra.train.train_head` on ARC-Easy rows (policy random, batch 8), in
examples/s and answer tokens/s, against a raw forward+backward+step of the same batches through the
plain HF path (`model(input_ids, labels=...)`, the LM head on every position), the way a generic
trainer runs it. Evaluation: one checkpoint's cost, base + positive + negative heads scored in one
multi-adapter pass of the scoring engine against three single-adapter passes.

    python bench/likra_training.py [--examples 96] [--eval-items 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from likra.config import TrainConfig
from likra.data import build_training_set
from likra.heads import add_heads
from likra.models import load_model
from likra.scoring.engine import Scorer
from likra.scoring.requests import build_requests
from likra.scoring.tokens import Encoder
from likra.train import plan_steps, train_head
from warehouse.db import connect_read_only
from warehouse.ingest import ingest
from warehouse.items import load_items

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"


def raw_steps(loaded, rows: list[tuple[str, str]], config: TrainConfig) -> float:
    """Seconds for forward+backward+AdamW steps of the same batches through the plain HF loss."""
    model = loaded.model
    model.set_adapter("negative")
    model.train()
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    pad = loaded.tokenizer.pad_token_id or 0
    started = time.perf_counter()
    for step in plan_steps(len(rows), [len(rows)], config.batch_size, 1):
        encoded = [encoder.encode(*rows[i]) for i in range(step.start, step.end)]
        width = max(len(e.tokens) for e in encoded)
        ids = torch.full((len(encoded), width), pad)
        labels = torch.full((len(encoded), width), -100)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for r, e in enumerate(encoded):
            ids[r, : len(e.tokens)] = torch.tensor(e.tokens)
            mask[r, : len(e.tokens)] = 1
            labels[r, len(e.tokens) - e.n_cont : len(e.tokens)] = torch.tensor(e.tokens[-e.n_cont :])
        optimizer.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=96, help="training rows per measurement")
    parser.add_argument("--eval-items", type=int, default=100, help="items scored per evaluation measurement")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        ingest("arc_easy", db=db, path=SAMPLES / "arc_easy")
        config = TrainConfig(sizes=[args.examples], batch_size=8)
        with connect_read_only(db) as con:
            training = build_training_set(con, "arc_easy", config)
            items = load_items(con, "arc_easy")[: args.eval_items]
            requests = [r.request for r in build_requests(con, items)]
        rows = list(
            zip(
                training.rows.filter(training.rows["head"] == "negative")["context"].to_list(),
                training.rows.filter(training.rows["head"] == "negative")["continuation"].to_list(),
            )
        )
        rows = rows[: args.examples]
        tokens = sum(Encoder(load_model().tokenizer, 8192).encode(*row).n_cont for row in rows)

        loaded = add_heads(load_model(), config.lora, config.seed, ("positive", "negative"))
        raw_steps(loaded, rows[:16], config)  # warm up both paths' kernels
        started = time.perf_counter()
        train_head(loaded, "positive", rows, config, Path(tmp) / "run", {"base_model": loaded.key}, base_name="bench")
        ours = time.perf_counter() - started
        raw = raw_steps(loaded, rows, config)
        print(f"training, {len(rows)} ARC-Easy rows, batch 8, fp32, {torch.get_num_threads()} threads")
        print(
            f"  likra train_head  {ours:6.2f} s  {len(rows) / ours:6.2f} examples/s  "
            f"{tokens / ours:7.1f} answer tokens/s"
            "  (checkpoint save included)"
        )
        print(
            f"  raw HF fwd+bwd    {raw:6.2f} s  {len(rows) / raw:6.2f} examples/s; ours / raw time = {ours / raw:.2f}"
        )

        loaded.model.eval()
        scorer = Scorer(loaded)
        scorer.score(requests[:20], adapters=[None, "positive", "negative"])  # warm up
        started = time.perf_counter()
        scorer.score(requests, adapters=[None, "positive", "negative"])
        together = time.perf_counter() - started
        started = time.perf_counter()
        for adapter in (None, "positive", "negative"):
            scorer.score(requests, adapters=[adapter])
        apart = time.perf_counter() - started
        print(f"evaluation of one checkpoint, {len(items)} items ({len(requests)} choices) x 3 adapters")
        print(f"  one multi-adapter pass   {together:6.2f} s  ({3 * len(requests) / together:6.1f} choice scores/s)")
        print(
            f"  three separate passes    {apart:6.2f} s  ({3 * len(requests) / apart:6.1f} choice scores/s); "
            f"separate / one pass = {apart / together:.2f}"
        )


if __name__ == "__main__":
    main()
