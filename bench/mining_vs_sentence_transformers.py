"""Our candidate mining against sentence-transformers' `mine_hard_negatives` (with FAISS) on one corpus.

Corpus: the questions and gold answers of ARC-Challenge, ARC-Easy, OpenBookQA and CommonsenseQA
from ../shared/data/benchmarks; the pool is every answer text of the four. Both use all-MiniLM-L6-v2,
search by the question's embedding and keep 3 negatives per question. Ours runs the candidate stage
of `likra mine` (embed what the cache lacks, search, filter, store the candidates) for each
benchmark: cold (empty warehouse caches), warm (nothing changed), and again with the search forced
(as after a change of settings: embeddings cached, search and filters rerun), with and without the
answer-equivalence guard, whose added cost is reported per 1,000 candidates. Each side runs
`--repeat` times, on a fresh warehouse for ours; the best time of each counts, because other load on
a shared machine only ever adds time.

Prints the wall times and their ratios, the overlap of the two mined sets, and how many negatives
of each side repeat the gold answer after normalisation (case, whitespace, punctuation).

    python bench/mining_vs_sentence_transformers.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mining.config import MiningConfig
from mining.guard import GuardConfig
from mining.inputs import load_inputs
from mining.run import candidate_stage
from warehouse.ingest import ingest
from warehouse.text import normalize

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
BENCHMARKS = ["arc_challenge", "arc_easy", "openbookqa", "commonsenseqa"]
NEGATIVES = 3
CANDIDATES = 0  # candidates the last call of `ours` found


def ours(db: Path, config: MiningConfig, reuse: bool = True) -> tuple[float, dict[str, list[str]], dict[str, str], int]:
    """Our candidate stage for the four benchmarks; (seconds, question -> negatives, question -> gold, sets reused)."""
    global CANDIDATES
    started = time.perf_counter()
    CANDIDATES = 0
    mined: dict[str, list[str]] = {}
    golds: dict[str, str] = {}
    reused = 0
    for benchmark in BENCHMARKS:
        inputs = load_inputs(db, benchmark, config)
        stage = candidate_stage(db, inputs, config, run_id=f"bench-{time.time_ns()}", reuse=reuse)
        reused += stage.reused_from is not None
        CANDIDATES += stage.found.frame.height
        questions = {i.item_id: i.question for i in inputs.items}
        golds.update({i.question: i.choices[i.gold] for i in inputs.items})
        cross = stage.found.frame.filter(stage.found.frame["origin"] == "cross_question")
        for item_id, text in cross.select("item_id", "text").iter_rows():
            mined.setdefault(questions[item_id], []).append(text)
    return time.perf_counter() - started, mined, golds, reused


def theirs(questions: list[str], golds: list[str], corpus: list[str]) -> tuple[float, dict[str, list[str]]]:
    """sentence-transformers' miner, FAISS on, the same model and corpus."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from mining.embeddings import embedder_source

    started = time.perf_counter()
    model = SentenceTransformer(embedder_source("all-MiniLM-L6-v2"))
    dataset = Dataset.from_dict({"anchor": questions, "positive": golds})
    result = mine_hard_negatives(
        dataset,
        model,
        corpus=corpus,
        num_negatives=NEGATIVES,
        use_faiss=True,
        batch_size=128,
        output_format="n-tuple",
        verbose=False,
    )
    seconds = time.perf_counter() - started
    mined = {row["anchor"]: [row[f"negative_{n}"] for n in range(1, NEGATIVES + 1)] for row in result}
    return seconds, mined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per side; the best time counts")
    args = parser.parse_args()
    config = MiningConfig(k=NEGATIVES, query="question", scope="all", max_sim_to_gold=0.9)
    from mining.embeddings import Embedder

    Embedder().encode(["warm up the import and the model files"])  # both sides start with libraries loaded
    unguarded = config.model_copy(update={"guard": GuardConfig(surface=False, paraphrase="off")})
    colds, warms, researches, bare, their_times = [], [], [], [], []
    for _ in range(args.repeat):  # the sides alternate, so a change of load on the machine hits both
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.duckdb"
            for benchmark in BENCHMARKS:
                ingest(benchmark, db=db, path=SAMPLES / benchmark)
            cold, ours_mined, gold_of, _ = ours(db, config)
            warm, again, _, reused = ours(db, config)
            research, searched, _, _ = ours(db, config, reuse=False)
            candidates = CANDIDATES
            without_guard = ours(db, unguarded, reuse=False)[0]
            assert again == ours_mined == searched, "warm runs must return the same candidates"
            assert reused == len(BENCHMARKS), "a warm run reuses every benchmark's candidates"
            corpus = sorted(set(load_inputs(db, BENCHMARKS[0], config).pool["text"].to_list()))
        questions = list(gold_of)
        their_seconds, their_mined = theirs(questions, [gold_of[q] for q in questions], corpus)
        colds.append(cold), warms.append(warm), researches.append(research), their_times.append(their_seconds)
        bare.append(without_guard)
        print(
            f"  ours: cold {cold:6.2f} s, warm {warm:5.2f} s, search again {research:5.2f} s; "
            f"theirs: {their_seconds:6.2f} s",
            flush=True,
        )
    cold, warm, research, their_seconds = min(colds), min(warms), min(researches), min(their_times)
    unguarded_research = min(bare)

    def gold_repeats(mined: dict[str, list[str]]) -> int:
        return sum(normalize(n) == normalize(gold_of[q]) for q, negatives in mined.items() for n in negatives)

    common = [q for q in questions if q in their_mined and q in ours_mined]
    overlap = sum(len({normalize(n) for n in ours_mined[q]} & {normalize(n) for n in their_mined[q]}) for q in common)
    total_theirs = sum(len(their_mined[q]) for q in common)
    print(
        f"{len(questions)} questions, corpus of {len(corpus)} answer texts, {NEGATIVES} negatives per question; "
        f"best of {args.repeat}"
    )
    print(f"ours cold      {cold:7.2f} s  (embeddings computed, candidates searched and stored)")
    print(f"ours warm      {warm:7.2f} s  (nothing changed: candidates reused) = {warm / cold:.1%} of cold")
    print(
        f"ours re-search {research:7.2f} s  (embeddings cached, search and filters rerun) = "
        f"{research / cold:.1%} of cold"
    )
    print(
        f"ours re-search without the answer-equivalence guard {unguarded_research:7.2f} s: the guard adds "
        f"{(research - unguarded_research) / candidates * 1000:.3f} s per 1,000 candidates ({candidates} candidates)"
    )
    print(
        f"sentence-transformers mine_hard_negatives (FAISS) {their_seconds:7.2f} s; ours cold / theirs = "
        f"{cold / their_seconds:.2f}"
    )
    print(f"overlap: {overlap} of their {total_theirs} negatives are among ours ({overlap / max(1, total_theirs):.1%})")
    print(
        f"negatives repeating the gold answer after normalisation: ours {gold_repeats(ours_mined)}, "
        f"theirs {gold_repeats(their_mined)}"
    )


if __name__ == "__main__":
    main()
