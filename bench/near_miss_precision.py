"""Precision of the mined tiers on the labelled picks (bench/data/README.md), before and after the verifier, and
each verifier rule's precision and recall, on the `dev` part (where thresholds are chosen) and the `heldout`
part (read once, for the report). Also the verifier's cost on a whole benchmark.

A rule is a detector of picks that are not wrong (labelled `correct` or `arguable`): its precision is the share
of the picks it flags that are not wrong, its recall the share of not-wrong picks it flags; a flagged real near
miss (`wrong_plausible`) is recall lost for the tiers. The language-model judge asks the scoring model whether
the candidate answers the question (log p(" yes") - log p(" no") after the question and the candidate).

    python bench/near_miss_precision.py --db data/study.duckdb --db data/obqa.duckdb [--sweep] [--judge smollm2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from mining.config import MiningConfig
from mining.embeddings import load_vectors
from mining.grading import TierRules, grade
from mining.inputs import load_inputs
from mining.labelled import REAL_NEAR_MISS, WRONG, load_labels, share
from mining.verify import OWN_DISTRACTOR, VerifierConfig, verify
from warehouse.db import connect_read_only

REPO = Path(__file__).resolve().parents[1]
OFF = {"enabled": True, "containment": False, "similar_question": None, "max_sim_gold": None, "gold_gap": None}
RULES = {
    "contains_true_answer": {**OFF, "containment": True},
    "gold_of_similar": {**OFF, "similar_question": VerifierConfig().similar_question},
    "near_gold": {**OFF, "max_sim_gold": VerifierConfig().max_sim_gold},
    "closer_to_gold (gap 0)": {**OFF, "gold_gap": 0.0},
    "too_plausible (max_margin 1)": {**OFF, "max_margin": 1.0},
    "default verifier (all rules)": {},
}


def warehouse_of(dbs: list[str], benchmark: str) -> str:
    """The first warehouse that holds graded negatives of the benchmark."""
    for db in dbs:
        with connect_read_only(db) as con:
            if con.execute("SELECT count(*) FROM graded_negatives WHERE benchmark = ?", [benchmark]).fetchone()[0]:
                return db
    raise SystemExit(f"no warehouse of {dbs} holds graded negatives of {benchmark}: mine it first")


def labelled_rows(dbs: list[str], labels: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """The labelled picks joined to their graded rows, tiers regraded from the margins (as before verification),
    and per benchmark (items, known-true answers, vectors)."""
    frames, context = [], {}
    for (benchmark,), wanted in labels.group_by("benchmark"):
        db = warehouse_of(dbs, benchmark)
        inputs = load_inputs(db, benchmark, MiningConfig())
        vectors = load_vectors(db, MiningConfig().embedder, inputs.texts)
        vectors.update({alias: vectors[target] for alias, target in inputs.aliases.items()})
        context[benchmark] = (inputs.items, inputs.known_true, vectors)
        with connect_read_only(db) as con:
            graded = con.execute("SELECT * EXCLUDE (tier) FROM graded_negatives WHERE benchmark = ?", [benchmark]).pl()
        graded = graded.rename({"negative": "text"}).join(
            wanted.select("item_id", "norm_hash", "label", "part"), on=["item_id", "norm_hash"]
        )
        frames.append(grade(graded, TierRules()))
    return pl.concat(frames, how="diagonal_relaxed"), context


def flags(rows: pl.DataFrame, context: dict, settings: dict) -> np.ndarray:
    """Per row, whether the verifier with these settings suspects it."""
    out = np.zeros(rows.height, dtype=bool)
    for (benchmark,), part in rows.with_row_index("row").group_by("benchmark"):
        items, known_true, vectors = context[benchmark]
        found = verify(part, items, known_true, vectors, VerifierConfig(**settings)).unverified_by
        out[part["row"].to_numpy()] = [f is not None for f in found]
    return out


def rule_metrics(rows: pl.DataFrame, flagged: np.ndarray) -> dict:
    """Precision and recall of a rule as a detector of not-wrong picks, and the real near misses it costs."""
    not_wrong = ~rows["label"].is_in(WRONG).to_numpy()
    real = (rows["label"] == REAL_NEAR_MISS).to_numpy()
    return {
        "flagged": int(flagged.sum()),
        "precision": share(int((flagged & not_wrong).sum()), int(flagged.sum())),
        "recall": share(int((flagged & not_wrong).sum()), int(not_wrong.sum())),
        "near_misses_lost": share(int((flagged & real).sum()), int(real.sum())),
    }


def tier_outcome(rows: pl.DataFrame, flagged: np.ndarray) -> dict:
    """Cross-question picks in near_miss: share wrong and real near misses; real near misses kept in near_miss or
    plausible."""
    tier = np.where(flagged, "unverified", rows["tier"].to_numpy())
    label = rows["label"].to_numpy()
    near = tier == "near_miss"
    real = label == REAL_NEAR_MISS
    kept = np.isin(tier, ["near_miss", "plausible"])
    return {
        "near_miss_wrong": share(int((near & np.isin(label, WRONG)).sum()), int(near.sum())),
        "near_miss_wrong_plausible": share(int((near & real).sum()), int(near.sum())),
        "real_near_misses_kept": share(int((kept & real).sum()), int(real.sum())),
        "labels_by_tier": {t: dict(zip(*np.unique(label[tier == t], return_counts=True))) for t in np.unique(tier)},
    }


def judge_scores(rows: pl.DataFrame, model: str) -> np.ndarray:
    """log p(" yes") - log p(" no") of the scoring model asked whether the candidate answers the question."""
    from likra.models import load_model
    from likra.scoring.engine import Request, Scorer

    scorer = Scorer(load_model(model))
    requests = []
    for question, text in rows.select("question", "text").rows():
        context = f"Question: {question}\nProposed answer: {text}\nIs the proposed answer correct? Answer yes or no:"
        requests += [Request(context, " yes"), Request(context, " no")]
    scores = [s.loglik for s in scorer.score(requests)[0]]
    return np.asarray(scores[0::2]) - np.asarray(scores[1::2])


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a not-wrong pick scores above a wrong one (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(
        ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    )


def fmt(metric: dict) -> str:
    return (
        f"{metric['k']}/{metric['n']} = {metric['share']:.0%} [{metric['low']:.0%}, {metric['high']:.0%}]"
        if metric["n"]
        else "0/0"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        help="a warehouse where the labelled benchmarks were mined (repeatable; default data/study.duckdb)",
    )
    parser.add_argument("--sweep", action="store_true", help="threshold sweeps on dev")
    parser.add_argument("--judge", default="", help="comma-separated models for the language-model judge")
    parser.add_argument("--json", help="write every number here")
    args = parser.parse_args()
    labels = load_labels()
    rows, context = labelled_rows(args.db or [str(REPO / "data" / "study.duckdb")], labels)
    rows = rows.join(labels.select("item_id", "norm_hash", "question"), on=["item_id", "norm_hash"], how="left")
    cross = rows.filter(pl.col("origin") != OWN_DISTRACTOR)
    own = rows.filter(pl.col("origin") == OWN_DISTRACTOR)
    report: dict = {"labelled": rows.height, "cross": cross.height, "own": own.height}
    for part in ("dev", "heldout"):
        picks = cross.filter(pl.col("part") == part)
        print(f"\n== {part}: {picks.height} cross-question picks, labels {dict(picks['label'].value_counts().rows())}")
        rules: dict[str, Callable[[], np.ndarray]] = {
            name: (lambda s=settings, picks=picks: flags(picks, context, s)) for name, settings in RULES.items()
        }
        not_wrong = ~picks["label"].is_in(WRONG).to_numpy()
        signals = {"sim_gold": picks["sim_gold"].to_numpy(), "margin_pmi": picks["margin_pmi"].to_numpy()}
        for model in filter(None, args.judge.split(",")):
            scores = judge_scores(picks, model)
            signals[f"judge {model}"] = scores
            rules[f"judge {model} (yes - no > 0)"] = lambda scores=scores: scores > 0
        report[part] = {
            "auc_not_wrong": {name: round(auc(np.asarray(v, dtype=float), not_wrong), 3) for name, v in signals.items()}
        }
        print(f"AUC of each signal for picks that are not wrong: {report[part]['auc_not_wrong']}")
        before = tier_outcome(picks, np.zeros(picks.height, dtype=bool))
        print(
            f"before the verifier: near_miss wrong {fmt(before['near_miss_wrong'])}, wrong and plausible "
            f"{fmt(before['near_miss_wrong_plausible'])}"
        )
        report[part].update({"before": before, "rules": {}})
        for name, compute in rules.items():
            started = time.perf_counter()
            flagged = compute()
            metrics = rule_metrics(picks, flagged)
            outcome = tier_outcome(picks, flagged)
            report[part]["rules"][name] = {**metrics, **outcome, "seconds": round(time.perf_counter() - started, 2)}
            print(
                f"  {name}: flags {metrics['flagged']}, precision {fmt(metrics['precision'])}, recall "
                f"{fmt(metrics['recall'])}, near misses lost {fmt(metrics['near_misses_lost'])}; then near_miss "
                f"wrong {fmt(outcome['near_miss_wrong'])}, wrong and plausible "
                f"{fmt(outcome['near_miss_wrong_plausible'])}, real near misses kept "
                f"{fmt(outcome['real_near_misses_kept'])}"
            )
        if args.sweep and part == "dev":
            grid = [
                (near, gap, cap, contain)
                for near in (None, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
                for gap in (None, 0.0, 0.1, 0.2)
                for cap in (None, 1.0)
                for contain in (True, False)
            ]
            swept = []
            for near, gap, cap, contain in grid:
                settings = {"max_sim_gold": near, "gold_gap": gap, "max_margin": cap, "containment": contain}
                outcome = tier_outcome(picks, flags(picks, context, settings))
                swept.append({**settings, **outcome})

            # Best first: settings that keep at least a third of the real near misses in near_miss or plausible, the
            # most often wrong near_miss tier first; then the rest.
            def meets(r: dict) -> bool:
                return (r["real_near_misses_kept"]["share"] or 0) >= 1 / 3

            swept.sort(key=lambda r: (not meets(r), -(r["near_miss_wrong"]["share"] or 0)))
            report[part]["sweep"] = swept
            for r in swept[:10]:
                print(
                    f"  sweep max_sim_gold {r['max_sim_gold']} gold_gap {r['gold_gap']} max_margin "
                    f"{r['max_margin']} containment {r['containment']}: near_miss wrong {fmt(r['near_miss_wrong'])}, "
                    f"wrong and plausible {fmt(r['near_miss_wrong_plausible'])}, kept "
                    f"{fmt(r['real_near_misses_kept'])}"
                )
    own_outcome = tier_outcome(own, flags(own, context, {}))
    report["own_options"] = own_outcome
    print(
        f"\nown options ({own.height}): labels {dict(own['label'].value_counts().rows())}; in near_miss wrong "
        f"{fmt(own_outcome['near_miss_wrong'])}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
