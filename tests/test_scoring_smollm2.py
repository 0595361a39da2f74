"""The engine on the real offline model, SmolLM2-135M-Instruct: lm-evaluation-harness parity and exactness."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from conftest import PARITY

from likra.models import load_model
from likra.scoring.engine import Scorer, score_naive
from likra.scoring.requests import build_requests
from likra.scoring.run import score_benchmark
from warehouse.db import connect_read_only
from warehouse.ingest import ingest
from warehouse.items import load_items

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(smollm2_dir: Path):
    return load_model(str(smollm2_dir), dtype="fp32")


def test_matches_lm_eval_reference_on_arc_challenge(samples: Path, db: Path, smollm2) -> None:
    reference = list(csv.DictReader((PARITY / "arc_challenge_fp32_0shot_bs8.csv").open()))
    n_items = len({row["doc_id"] for row in reference})
    ingest("arc_challenge", db=db, path=samples / "arc_challenge", limit=n_items)

    report = score_benchmark("arc_challenge", db=db, loaded=smollm2)

    with duckdb.connect(str(db), read_only=True) as con:
        ours = {
            (p, c): (ll, n, greedy)
            for p, c, ll, n, greedy in con.execute(
                "SELECT i.position, s.choice, s.loglik, s.n_tokens, s.is_greedy FROM choice_scores s "
                "JOIN items i USING (item_id)"
            ).fetchall()
        }
    assert len(ours) == len(reference)
    for row in reference:
        loglik, n_tokens, greedy = ours[(int(row["doc_id"]), int(row["choice_idx"]))]
        assert abs(loglik - float(row["loglik"])) < 1e-3, row
        assert n_tokens == int(row["cont_tokens"]) and greedy == bool(int(row["is_greedy"]))

    def reference_accuracy(normalise: bool) -> float:
        correct = 0
        for doc in sorted({row["doc_id"] for row in reference}):
            rows = [r for r in reference if r["doc_id"] == doc]
            values = [float(r["loglik"]) / (int(r["choice_chars"]) if normalise else 1) for r in rows]
            correct += int(rows[values.index(max(values))]["is_target"])
        return correct / n_items

    assert report.accuracy["test"]["acc"] == reference_accuracy(False)
    assert report.accuracy["test"]["acc_norm"] == reference_accuracy(True)


@pytest.mark.parametrize(
    ("benchmark", "folder", "fewshot"),
    [
        ("arc_challenge", "arc_challenge", 0),
        ("arc_challenge", "arc_challenge", 3),
        ("winogrande", "winogrande", 2),
        ("mmlu", "mmlu", 2),
    ],
)
def test_fast_paths_equal_naive_forward(
    samples: Path, db: Path, smollm2, benchmark: str, folder: str, fewshot: int
) -> None:
    ingest(benchmark, db=db, path=samples / folder, limit=6)
    with connect_read_only(db) as con:
        items = load_items(con, benchmark, splits=["test" if benchmark != "winogrande" else "validation"], limit=4)
        requests = build_requests(con, items, fewshot)
    plain = [r.request for r in requests]

    fast = Scorer(smollm2).score(plain)[0]
    slow = score_naive(smollm2, plain)

    for a, b in zip(fast, slow):
        assert abs(a.loglik - b.loglik) < 1e-4 and a.is_greedy == b.is_greedy and a.n_tokens == b.n_tokens
