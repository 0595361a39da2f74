"""Draw the candidate negatives to label (bench/data/README.md): per sampled question, its top cross-question
candidate by the tier margin, and for a quarter of the questions its top own option.

Writes the picks with their provenance (`--out`, default bench/data/near_miss_picks.jsonl, appended per
benchmark) and a blind file for the labellers (`--blind`): an id, the question, the gold answer and the
candidate, shuffled, with nothing that says where the candidate came from or how it scored.

    python bench/draw_near_miss_picks.py --db data/study.duckdb --benchmark arc_easy --questions 200
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

from warehouse.db import connect_read_only
from warehouse.items import load_items
from warehouse.negatives import ORIGINS, load_negatives

OWN, CROSS = ORIGINS[0], ORIGINS[1]
REPO = Path(__file__).resolve().parents[1]
HELDOUT_SHARE = 0.4


def part_of(item_id: str) -> str:
    """`heldout` for 40% of the questions (by a hash of the id), else `dev`."""
    share = int(hashlib.sha256(f"label-part:{item_id}".encode()).hexdigest()[:8], 16) / 2**32
    return "heldout" if share < HELDOUT_SHARE else "dev"


def draw(db: str, benchmark: str, questions: int, seed: int) -> list[dict]:
    """The picks of one benchmark: top cross-question candidate per sampled question, top own option for a quarter."""
    with connect_read_only(db) as con:
        items = {i.item_id: i for i in load_items(con, benchmark)}
        graded = load_negatives(con, benchmark, origins=[OWN, CROSS])
    first = graded.group_by("item_id", "origin", maintain_order=True).first()  # most plausible by the tier margin
    top = {(r["item_id"], r["origin"]): r for r in first.iter_rows(named=True)}
    eligible = sorted({item_id for item_id, origin in top if origin == CROSS})
    chosen = random.Random(seed).sample(eligible, min(questions, len(eligible)))
    picks = []
    for n, item_id in enumerate(chosen):
        for origin in (CROSS, OWN) if n % 4 == 0 else (CROSS,):
            row = top.get((item_id, origin))
            if row is None:
                continue
            item = items[item_id]
            picks.append(
                {
                    "benchmark": benchmark,
                    "item_id": item_id,
                    "question": item.question,
                    "gold": item.choices[item.gold],
                    "candidate": row["negative"],
                    "norm_hash": row["norm_hash"],
                    "origin": origin,
                    "origin_item_id": row["origin_item_id"],
                    "part": part_of(item_id),
                }
            )
    return picks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=str(REPO / "data" / "study.duckdb"))
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", default=str(REPO / "bench" / "data" / "near_miss_picks.jsonl"))
    parser.add_argument("--blind", required=True, help="the labellers' file (kept out of the repository)")
    args = parser.parse_args()
    picks = draw(args.db, args.benchmark, args.questions, args.seed)
    with open(args.out, "a") as out:
        for pick in picks:
            out.write(json.dumps(pick, ensure_ascii=False) + "\n")
    blind = [
        {
            "id": hashlib.sha256(f"{p['item_id']}|{p['norm_hash']}".encode()).hexdigest()[:10],
            "question": p["question"],
            "correct_answer": p["gold"],
            "candidate": p["candidate"],
        }
        for p in picks
    ]
    random.Random(args.seed + 1).shuffle(blind)
    with open(args.blind, "a") as out:
        for row in blind:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"{len(picks)} picks of {args.benchmark} ({sum(p['origin'] == CROSS for p in picks)} cross-question, "
        f"{sum(p['part'] == 'heldout' for p in picks)} held out) -> {args.out}; blind file {args.blind}"
    )


if __name__ == "__main__":
    main()
