"""Precision and recall of the answer-equivalence guard on the labelled pairs, and what it costs.

The pairs (`tests/data/answer_pairs.csv`) are (true answer, candidate, same/different): surface
variants (articles, prepositions, plurals, verb forms, numbers, units), paraphrases, and lookalikes
that must stay negatives ("weather" / "weathering", "1,000 grams" / "1,025 grams"). Prints, for the
surface rules alone and with each paraphrase check (embedding_lexical at several similarity floors;
a CrossEncoder with --cross-encoder), precision and recall of "same", and the pairs it gets wrong.

On TruthfulQA (the shared mc_task.json), whose MC2 lists every true and false answer of a question,
the human labels give many more pairs: a true and a false answer of one question must stay apart
(each judged with the question's other false answers as the item's own wrong answers); two true
answers are often, not always, paraphrases (the share judged the same is a floor for recall).

Then the cost of the guard per 1,000 candidates: every answer of ARC-Easy, OpenBookQA and ARC-Challenge
(../shared/data/benchmarks) checked against 3 true answers of another item, as mining checks the
neighbours it keeps.

    python bench/answer_guard.py [--cross-encoder MODEL] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import time
from pathlib import Path

import numpy as np

from mining.embeddings import Embedder
from mining.equivalence import answer_forms, surface_rule
from mining.paraphrase import cross_encoder_same, embedding_lexical_same

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "tests" / "data" / "answer_pairs.csv"
SAMPLES = Path(os.environ.get("LIKRA_SHARED", ROOT.parent / "shared")) / "data" / "benchmarks"


def scores(predicted: list[bool], expected: list[bool]) -> tuple[float, float, int, int, int]:
    tp = sum(p and e for p, e in zip(predicted, expected))
    fp = sum(p and not e for p, e in zip(predicted, expected))
    fn = sum(e and not p for p, e in zip(predicted, expected))
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


def report(name: str, rows: list[dict], predicted: list[bool]) -> None:
    expected = [r["expected"] == "same" for r in rows]
    precision, recall, tp, fp, fn = scores(predicted, expected)
    print(f"{name:38} precision {precision:6.1%}  recall {recall:6.1%}  (tp {tp}, fp {fp}, fn {fn}, {len(rows)} pairs)")
    wrong = [
        f"{'FP' if p else 'FN'} {r['true_answer']!r} / {r['candidate']!r}"
        for r, p, e in zip(rows, predicted, expected)
        if p != e
    ]
    for line in wrong[:12]:
        print(f"    {line}")


def truthfulqa_pairs(embedder: Embedder, min_sim: float) -> None:
    import json

    entries = json.loads((SAMPLES / "truthfulqa" / "data" / "mc_task.json").read_text(encoding="utf-8"))
    questions = [
        (
            e["question"],
            [t for t, label in e["mc2_targets"].items() if label == 1],
            [t for t, label in e["mc2_targets"].items() if label == 0],
        )
        for e in entries
    ]
    texts = sorted({t for _, trues, falses in questions for t in (*trues, *falses)})
    vectors = dict(zip(texts, embedder.encode(texts)))
    apart = judged_apart = together = judged_together = surface_apart = 0
    for question, trues, falses in questions:
        for true in trues:
            for false in falses:
                others = np.stack([vectors[f] for f in falses if f != false] or [np.zeros_like(vectors[true])])
                apart += 1
                surface_apart += surface_rule(false, [true]) is not None
                judged_apart += embedding_lexical_same(
                    false, vectors[false], [true], vectors[true][None, :], min_sim, others, question
                )
            for other in trues:
                if other != true:
                    together += 1
                    falses_matrix = np.stack([vectors[f] for f in falses])
                    judged_together += embedding_lexical_same(
                        other, vectors[other], [true], vectors[true][None, :], min_sim, falses_matrix, question
                    )
    print(
        f"TruthfulQA MC2, {len(questions)} questions: a true and a false answer of one question, {apart} pairs: "
        f"judged the same by the surface rules {surface_apart} ({surface_apart / apart:.2%}), by embedding_lexical "
        f">= {min_sim} {judged_apart} ({judged_apart / apart:.2%})"
    )
    print(
        f"  two true answers of one question, {together} ordered pairs: judged the same by embedding_lexical "
        f"{judged_together} ({judged_together / together:.1%}; a floor for recall, not all are paraphrases)"
    )


def guard_cost(embedder: Embedder, min_sim: float) -> None:
    import tempfile

    import duckdb

    from warehouse.ingest import ingest

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        for name in ("arc_easy", "openbookqa", "arc_challenge"):
            ingest(name, db=db, path=SAMPLES / name)
        with duckdb.connect(str(db), read_only=True) as con:
            texts = [t for (t,) in con.execute("SELECT unnest(choices) FROM items").fetchall()]
    texts = list(dict.fromkeys(texts))
    rng = random.Random(0)
    trues = [tuple(rng.sample(texts, 3)) for _ in texts]
    vectors = embedder.encode(texts)
    index = {t: i for i, t in enumerate(texts)}
    answer_forms.cache_clear()
    started = time.perf_counter()
    surface = sum(surface_rule(text, truth) is not None for text, truth in zip(texts, trues))
    surface_seconds = time.perf_counter() - started
    started = time.perf_counter()
    paraphrases = sum(
        embedding_lexical_same(text, vectors[i], truth, vectors[[index[t] for t in truth]], min_sim)
        for i, (text, truth) in enumerate(zip(texts, trues))
    )
    paraphrase_seconds = time.perf_counter() - started
    n = len(texts)
    print(f"guard cost on {n} distinct real answers, each against 3 true answers (cold caches):")
    print(f"  surface rules      {surface_seconds / n * 1000:6.3f} s per 1,000 candidates ({surface} matched)")
    print(f"  embedding_lexical  {paraphrase_seconds / n * 1000:6.3f} s per 1,000 candidates ({paraphrases} matched)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cross-encoder", help="a sentence-transformers CrossEncoder id or folder to measure as well")
    parser.add_argument("--threshold", type=float, default=0.5, help="cross-encoder threshold")
    args = parser.parse_args()
    rows = list(csv.DictReader(PAIRS.open()))
    surface_rows = [r for r in rows if r["level"] == "surface"]
    model_rows = [r for r in rows if r["level"] == "paraphrase"]
    print(f"{len(rows)} labelled pairs: {len(surface_rows)} surface, {len(model_rows)} paraphrase-level")

    surface = [surface_rule(r["candidate"], [r["true_answer"]]) is not None for r in rows]
    report("surface rules, surface pairs", surface_rows, [p for p, r in zip(surface, rows) if r["level"] == "surface"])
    report("surface rules, every pair", rows, surface)

    embedder = Embedder()
    truths, candidates = (
        embedder.encode([r["true_answer"] for r in rows]),
        embedder.encode([r["candidate"] for r in rows]),
    )
    for min_sim in (0.7, 0.75, 0.8, 0.85):
        model = [
            embedding_lexical_same(r["candidate"], c, [r["true_answer"]], t[None, :], min_sim)
            for r, c, t in zip(rows, candidates, truths)
        ]
        report(
            f"embedding_lexical >= {min_sim}, paraphrase pairs",
            model_rows,
            [m for m, r in zip(model, rows) if r["level"] == "paraphrase"],
        )
        report(f"surface + embedding_lexical >= {min_sim}, every pair", rows, [s or m for s, m in zip(surface, model)])
    if args.cross_encoder:
        judged = cross_encoder_same(
            args.cross_encoder, [(r["candidate"], r["true_answer"]) for r in rows], args.threshold
        )
        report(
            f"cross_encoder >= {args.threshold}, paraphrase pairs",
            model_rows,
            [bool(j) for j, r in zip(judged, rows) if r["level"] == "paraphrase"],
        )
        report("surface + cross_encoder, every pair", rows, [s or bool(j) for s, j in zip(surface, judged)])
    truthfulqa_pairs(embedder, 0.75)
    guard_cost(embedder, 0.75)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
