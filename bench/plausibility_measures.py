"""Which plausibility measure should grade negatives: the numbers that chose the default.

A good measure says what is plausible *for this question*. On samples of ARC-Easy, OpenBookQA and
TruthfulQA MC1 (../shared/data/benchmarks; the pool is every answer of the three, `--scope all`),
each measure is scored on:

* distractor AUC: within an item, how often a human-written distractor scores above an answer of a
  random other question (ties count half). Distractors were written to be plausible for the question;
  random answers are not. The higher, the more the measure knows what fits the question.
* gold accuracy: how often the gold answer scores above every own distractor (acc, acc_norm, and
  acc_mutual_info for PMI).
* generic top picks: per item, the cross-question candidate the measure ranks first (the top near
  miss). "hub" is the share of items whose top pick is also the top pick of 3 or more other questions
  (a string likely anywhere, such as "1" or "Pluto"); "short" the share of one-token picks.

Measures: the summed log-likelihood, per token, per character, and PMI (log p(a | question) -
log p(a | premise)) with an empty premise (lm-eval's acc_mutual_info: the prefix token) and with
"Answer:" (a domain premise, as in the surface-form-competition work), summed and per token.

Then the cost of PMI: the conditional pass and the unconditional pass timed on the same candidates,
in seconds per 1,000 candidates (the engine alone, no cache).

    python bench/plausibility_measures.py [--items 200] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from likra.scoring.run import CachedScorer
from mining.candidates import CANDIDATE_SCHEMA
from mining.config import MiningConfig
from mining.equivalence import surface_rule
from mining.inputs import load_inputs
from mining.plausibility import plausibility_requests, score_plausibility, unconditional_requests
from mining.run import mine_benchmark
from warehouse.db import connect_read_only
from warehouse.ingest import ingest
from warehouse.negatives import load_negatives
from warehouse.sinks import WarehouseSink
from warehouse.text import norm_hash

SAMPLES = Path(os.environ.get("LIKRA_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "benchmarks"
BENCHMARKS = {"arc_easy": "arc_easy", "openbookqa": "openbookqa", "truthfulqa_mc1": "truthfulqa"}
PREMISES = {"pmi[empty]": "", "pmi[Answer:]": "Answer:"}
MEASURES = ("sum", "per_token", "per_char", *PREMISES, *(f"{name}/token" for name in PREMISES))


def random_answers(inputs, per_item: int, rng: random.Random) -> pl.DataFrame:
    """For each item, answers of random other questions of its benchmark that are not a true answer of it."""
    answers = [(i.item_id, t) for i in inputs.items for t in i.choices]
    rows = []
    for item in inputs.items:
        truths = [item.choices[g] for g in item.true_choices] + list(inputs.known_true.get(item.item_id, ()))
        mine = {norm_hash(t) for t in item.choices}
        picked = 0
        while picked < per_item:
            owner, text = rng.choice(answers)
            if owner == item.item_id or norm_hash(text) in mine or surface_rule(text, truths):
                continue
            mine.add(norm_hash(text))
            rows.append(
                {
                    "item_id": item.item_id,
                    "benchmark": item.benchmark,
                    "text": text,
                    "norm_hash": norm_hash(text),
                    "origin": "random",
                    "origin_item_id": owner,
                    "search_rank": None,
                    "sim_gold": 0.0,
                    "sim_question": 0.0,
                }
            )
            picked += 1
    return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)


def with_measures(frame: pl.DataFrame, premise_name: str, pmi: pl.DataFrame) -> pl.DataFrame:
    """PMI under one premise, summed and per token of the answer, for the candidate and the gold answer."""
    gold_tokens = pl.col("gold_loglik") / (pl.col("loglik_per_token") - pl.col("margin_per_token"))
    return frame.join(
        pmi.select(
            "item_id", "norm_hash", pl.col("pmi").alias(premise_name), pl.col("gold_pmi").alias(f"gold_{premise_name}")
        ),
        on=["item_id", "norm_hash"],
    ).with_columns(
        (pl.col(premise_name) / pl.col("n_tokens")).alias(f"{premise_name}/token"),
        (pl.col(f"gold_{premise_name}") / gold_tokens).alias(f"gold_{premise_name}/token"),
    )


def measure_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """One column per measure (the candidate's value) and one per measure for the gold answer."""
    return frame.with_columns(
        pl.col("loglik").alias("sum"),
        pl.col("loglik_per_token").alias("per_token"),
        pl.col("loglik_per_char").alias("per_char"),
        pl.col("gold_loglik").alias("gold_sum"),
        (pl.col("loglik_per_token") - pl.col("margin_per_token")).alias("gold_per_token"),
        (pl.col("loglik_per_char") - pl.col("margin_per_char")).alias("gold_per_char"),
    )


def distractor_auc(own: pl.DataFrame, rand: pl.DataFrame, measure: str) -> float:
    aucs = []
    rand_by_item = {k[0]: v[measure].to_numpy() for k, v in rand.group_by("item_id")}
    for (item_id,), part in own.group_by("item_id"):
        r = rand_by_item.get(item_id)
        if r is None or not len(r):
            continue
        o = part[measure].to_numpy()
        aucs.append(float(((o[:, None] > r[None, :]) + 0.5 * (o[:, None] == r[None, :])).mean()))
    return float(np.mean(aucs)) if aucs else float("nan")


def gold_accuracy(own: pl.DataFrame, measure: str) -> float:
    per_item = own.group_by("item_id").agg((pl.col(f"gold_{measure}") > pl.col(measure)).all().alias("right"))
    return float(per_item["right"].mean())


def generic_top_picks(cross: pl.DataFrame, measure: str) -> tuple[float, float]:
    top = cross.sort(measure, descending=True).group_by("item_id", maintain_order=True).first()
    counts = Counter(top["norm_hash"].to_list())
    hub = float(np.mean([counts[h] >= 4 for h in top["norm_hash"].to_list()]))
    short = float((top["n_tokens"] <= 1).mean())
    return hub, short


def pmi_cost(db: Path, config: MiningConfig, benchmark: str, limit: int) -> tuple[float, float, int]:
    """Seconds per 1,000 candidates of the conditional and the unconditional pass (engine only, no cache)."""
    inputs = load_inputs(db, benchmark, config)
    with connect_read_only(db) as con:
        candidates = con.execute(
            "SELECT item_id, norm_hash, negative AS text FROM graded_negatives "
            "WHERE benchmark = ? ORDER BY item_id, norm_hash LIMIT ?",
            [benchmark, limit],
        ).pl()
    requests = plausibility_requests(inputs.items, candidates)
    unconditional = list(
        {
            (u.context_hash, u.continuation_hash): u
            for u in unconditional_requests(inputs.items, requests, config.premise)
        }.values()
    )
    scorer = CachedScorer(db, model=config.scorer_model, dtype=config.dtype)
    scorer.compute(requests[:16])  # load the model and warm up before timing
    started = time.perf_counter()
    scorer.compute(requests)
    conditional_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scorer.compute(unconditional)
    unconditional_seconds = time.perf_counter() - started
    n = candidates.height
    return conditional_seconds / n * 1000, unconditional_seconds / n * 1000, len(unconditional)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200, help="items per benchmark")
    parser.add_argument("--random", type=int, default=4, help="random other-question answers per item")
    parser.add_argument("--db", help="keep the warehouse here (default: a temporary one)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = Path(args.db) if args.db else Path(tmp.name) / "bench.duckdb"
    for benchmark, folder in BENCHMARKS.items():
        ingest(benchmark, db=db, path=SAMPLES / folder, limit=args.items)
    ingest("truthfulqa_mc2", db=db, path=SAMPLES / "truthfulqa", limit=args.items)  # MC1's twins

    rng = random.Random(0)
    results = []
    for benchmark in BENCHMARKS:
        graded: dict[str, pl.DataFrame] = {}
        randoms: dict[str, pl.DataFrame] = {}
        inputs, random_candidates = None, None
        for name, premise in PREMISES.items():  # the second premise re-grades: only its unconditional pass is new
            config = MiningConfig(scope="all", premise=premise)
            mine_benchmark(benchmark, db=db, config=config)
            with connect_read_only(db) as con:
                graded[name] = load_negatives(con, benchmark).rename({"negative": "text"})
            if inputs is None:
                inputs = load_inputs(db, benchmark, config)
                random_candidates = random_answers(inputs, args.random, rng)
            randoms[name] = score_plausibility(db, config, inputs.items, random_candidates, WarehouseSink(db)).frame
        first = next(iter(PREMISES))
        base, rand = graded[first], randoms[first]
        for name in PREMISES:
            base, rand = with_measures(base, name, graded[name]), with_measures(rand, name, randoms[name])
        base, rand = measure_columns(base), measure_columns(rand)
        own, cross = (
            base.filter(pl.col("origin") == "own_distractor"),
            base.filter(pl.col("origin") == "cross_question"),
        )
        for measure in MEASURES:
            hub, short = generic_top_picks(cross, measure)
            results.append(
                {
                    "benchmark": benchmark,
                    "measure": measure,
                    "distractor_auc": round(distractor_auc(own, rand, measure), 3),
                    "gold_acc": round(gold_accuracy(own, measure), 3),
                    "top_pick_hub": round(hub, 3),
                    "top_pick_one_token": round(short, 3),
                }
            )
    table = pl.DataFrame(results)
    with pl.Config(tbl_rows=100, tbl_cols=10, tbl_hide_dataframe_shape=True):
        print(table)
        print("mean over the benchmarks:")
        print(table.group_by("measure", maintain_order=True).agg(pl.exclude("benchmark").mean().round(3)))

    for benchmark in ("arc_easy", "truthfulqa_mc1"):
        conditional, unconditional, texts = pmi_cost(db, MiningConfig(scope="all"), benchmark, 1000)
        print(
            f"{benchmark}: conditional pass {conditional:.2f} s, unconditional pass {unconditional:.2f} s per 1,000 "
            f"candidates ({texts} distinct texts); PMI adds {unconditional / conditional:.0%}"
        )


if __name__ == "__main__":
    main()
