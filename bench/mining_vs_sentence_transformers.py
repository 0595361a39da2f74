"""Our candidate mining against sentence-transformers' `mine_hard_negatives` (with FAISS) on one corpus.

Corpus: the questions and gold answers of ARC-Challenge, ARC-Easy, OpenBookQA and CommonsenseQA
from ../shared/data/benchmarks; the pool is every answer text of the four. Both use all-MiniLM-L6-v2,
search by the question's embedding and keep 3 negatives per question. Ours runs cold (empty
warehouse caches) and warm (nothing changed). Prints both wall times and their ratios, the overlap
of the two mined sets, and how many negatives of each side repeat the gold answer after
normalisation (case, whitespace, punctuation).

    python bench/mining_vs_sentence_transformers.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mining.config import MiningConfig
from mining.normalize import normalize
from mining.run import WarehouseFrameSink, embed, find_candidates, load_inputs
from warehouse.ingest import ingest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
BENCHMARKS = {"arc_challenge": "arc_challenge", "arc_easy": "arc_easy", "openbookqa": "openbookqa",
              "commonsenseqa": "commonsenseqa"}
NEGATIVES = 3


def ours(db: Path, config: MiningConfig) -> tuple[float, dict[str, list[str]], dict[str, str]]:
    """Our embedding + search + filter stages for the four benchmarks; (seconds, question -> negatives, question -> gold)."""
    started = time.perf_counter()
    mined: dict[str, list[str]] = {}
    golds: dict[str, str] = {}
    for benchmark in BENCHMARKS:
        inputs = load_inputs(db, benchmark, config)
        vectors, _ = embed(db, config, inputs.texts, WarehouseFrameSink(db))
        found = find_candidates(inputs, vectors, config)
        questions = {i.item_id: i.question for i in inputs.items}
        golds.update({i.question: i.choices[i.gold] for i in inputs.items})
        cross = found.frame.filter(found.frame["origin"] == "cross_question")
        for item_id, text in cross.select("item_id", "text").iter_rows():
            mined.setdefault(questions[item_id], []).append(text)
    return time.perf_counter() - started, mined, golds


def theirs(questions: list[str], golds: list[str], corpus: list[str]) -> tuple[float, dict[str, list[str]]]:
    """sentence-transformers' miner, FAISS on, the same model and corpus."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from mining.embeddings import embedder_source

    started = time.perf_counter()
    model = SentenceTransformer(embedder_source("all-MiniLM-L6-v2"))
    dataset = Dataset.from_dict({"anchor": questions, "positive": golds})
    result = mine_hard_negatives(dataset, model, corpus=corpus, num_negatives=NEGATIVES, use_faiss=True,
                                 batch_size=128, output_format="n-tuple", verbose=False)
    seconds = time.perf_counter() - started
    mined = {row["anchor"]: [row[f"negative_{n}"] for n in range(1, NEGATIVES + 1)] for row in result}
    return seconds, mined


def main() -> None:
    config = MiningConfig(k=NEGATIVES, query="question", scope="all", max_sim_to_gold=0.9)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        for benchmark, folder in BENCHMARKS.items():
            ingest(benchmark, db=db, path=SAMPLES / folder)
        from mining.embeddings import Embedder

        Embedder().encode(["warm up the import and the model files"])  # both sides start with libraries loaded
        cold, ours_mined, gold_of = ours(db, config)
        warm, again, _ = ours(db, config)
        assert again == ours_mined, "a warm run must return the same candidates"
        inputs = load_inputs(db, "arc_challenge", config)
        corpus = sorted(set(inputs.pool["text"].to_list()))
    questions = list(gold_of)
    their_seconds, their_mined = theirs(questions, [gold_of[q] for q in questions], corpus)

    def gold_repeats(mined: dict[str, list[str]]) -> int:
        return sum(normalize(n) == normalize(gold_of[q]) for q, negatives in mined.items() for n in negatives)

    common = [q for q in questions if q in their_mined and q in ours_mined]
    overlap = sum(len({normalize(n) for n in ours_mined[q]} & {normalize(n) for n in their_mined[q]}) for q in common)
    total_theirs = sum(len(their_mined[q]) for q in common)
    print(f"{len(questions)} questions, corpus of {len(corpus)} answer texts, {NEGATIVES} negatives per question")
    print(f"ours cold      {cold:7.2f} s  (embeddings computed)")
    print(f"ours warm      {warm:7.2f} s  (nothing changed: all cache hits) = {warm / cold:.1%} of cold")
    print(f"sentence-transformers mine_hard_negatives (FAISS) {their_seconds:7.2f} s; ours cold / theirs = "
          f"{cold / their_seconds:.2f}")
    print(f"overlap: {overlap} of their {total_theirs} negatives are among ours ({overlap / max(1, total_theirs):.1%})")
    print(f"negatives repeating the gold answer after normalisation: ours {gold_repeats(ours_mined)}, "
          f"theirs {gold_repeats(their_mined)}")


if __name__ == "__main__":
    main()
