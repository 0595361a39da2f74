"""Token counts of the paper's setting, from the scoring engine's own plan (no model runs): training tokens of
both heads, and forward tokens of a 25-shot ARC-Challenge evaluation per adapter, for the engine (prompt and
few-shot prefix computed once) and for a harness that runs every choice with its whole context.

Counts use SmolLM2's tokenizer (the offline one); Mistral's and Llama's give counts of the same order.
The ARC samples here hold ARC-Challenge test and part of ARC-Easy test, so the training count is scaled
to the paper's 6,615 questions from the mean row length.

    python bench/paper_scale_tokens.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from likra.config import TrainConfig
from likra.data import build_training_set
from likra.models import load_model
from likra.scoring.engine import Scorer
from likra.scoring.requests import build_requests
from likra.scoring.tokens import Encoder
from warehouse.db import connect_read_only
from warehouse.ingest import ingest
from warehouse.items import load_items

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
PAPER_QUESTIONS = 6615
FEWSHOT = 25


def main() -> None:
    loaded = load_model()
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "paper.duckdb"
        ingest("arc_challenge", db=db, path=SAMPLES / "arc_challenge")
        ingest("arc_easy", db=db, path=SAMPLES / "arc_easy")
        with connect_read_only(db) as con:
            training = build_training_set(con, "arc_easy", TrainConfig(policy="first", holdout=0.01))
            items = load_items(con, "arc_challenge", ["test"])
            requests = build_requests(con, items, FEWSHOT)
    rows = list(zip(training.rows["context"].to_list(), training.rows["continuation"].to_list()))
    per_row = sum(len(encoder.encode(*row).tokens) - 1 for row in rows) / len(rows)
    answer = sum(encoder.encode(*row).n_cont for row in rows) / len(rows)
    print(
        f"training: {per_row:.1f} tokens per row ({answer:.1f} answer tokens); {PAPER_QUESTIONS} questions x 2 heads "
        f"= {per_row * PAPER_QUESTIONS * 2 / 1e6:.2f} M tokens for the whole learning curve"
    )
    scorer = Scorer(loaded)
    plain = [r.request for r in requests]
    encoded = scorer.encode(plain)
    groups = scorer.plan(plain, encoded)
    engine = sum(
        len(g.prefix)
        + sum(
            len(f.prefix) + sum(len(encoded[m].tokens) - 1 - len(g.prefix) - len(f.prefix) for m in f.members)
            for f in g.families
        )
        for g in groups
    )
    harness = sum(len(e.tokens) - 1 for e in encoded)
    print(f"evaluation, ARC-Challenge test, {len(items)} items, {len(plain)} choices, {FEWSHOT}-shot, per adapter:")
    print(f"  engine (shared prompt and few-shot prefix once): {engine / 1e6:.2f} M forward tokens")
    print(
        f"  every choice with its whole context:             {harness / 1e6:.2f} M forward tokens "
        f"({harness / engine:.0f}x)"
    )


if __name__ == "__main__":
    main()
