"""False negatives in a warehouse's graded negatives: negatives that are a known-true answer of their
question (its own true answers and those of its twin questions), after normalisation, in another
surface form, or (with --paraphrases) a paraphrase by the embedding-and-lexical check. Counts per
rule, origin and tier, with examples, so a mining run can be compared before and after a change.

    python bench/false_negatives.py BENCHMARK --db PATH [--paraphrases] [--examples 8]

The warehouse is opened read-write once to bring its schema up to date (a copy is safer).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from mining.embeddings import Embedder
from mining.equivalence import surface_rule
from mining.paraphrase import embedding_lexical_same
from mining.quality import true_answers
from mining.twins import question_groups
from warehouse.db import connect, connect_read_only
from warehouse.items import load_items
from warehouse.negatives import load_negatives
from warehouse.text import norm_hash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark")
    parser.add_argument("--db", required=True)
    parser.add_argument("--paraphrases", action="store_true", help="also count embedding-and-lexical paraphrases")
    parser.add_argument("--min-sim", type=float, default=0.75)
    parser.add_argument("--examples", type=int, default=8)
    args = parser.parse_args()
    connect(args.db).close()  # migrate
    with connect_read_only(args.db) as con:
        items = load_items(con, args.benchmark)
        groups = question_groups(con, args.benchmark)
        graded = load_negatives(con, args.benchmark)
    truths = true_answers(items, groups.known_true)
    questions = {i.item_id: i.question for i in items}
    wrong = {i.item_id: [t for c, t in enumerate(i.choices) if c not in i.true_choices] for i in items}
    vectors: dict[str, np.ndarray] = {}
    if args.paraphrases:
        texts = sorted({*graded["negative"].to_list(), *(t for ts in (*truths.values(), *wrong.values()) for t in ts)})
        vectors = dict(zip(texts, Embedder().encode(texts)))

    counts: Counter = Counter()
    by_origin_tier: Counter = Counter()
    by_origin_rule: Counter = Counter()
    examples: list[str] = []
    for item_id, text, origin, tier in graded.select("item_id", "negative", "origin", "tier").iter_rows():
        known = truths[item_id]
        if norm_hash(text) in {norm_hash(t) for t in known}:
            rule = "listed_true_answer"
        else:
            rule = surface_rule(text, known)
        others = [vectors[t] for t in wrong[item_id] if t != text] if args.paraphrases else []
        if (
            rule is None
            and args.paraphrases
            and embedding_lexical_same(
                text,
                vectors[text],
                known,
                np.stack([vectors[t] for t in known]),
                args.min_sim,
                np.stack(others) if others else None,
                questions[item_id],
            )
        ):
            rule = "paraphrase_model"
        if rule is None:
            continue
        counts[rule] += 1
        by_origin_tier[(origin, tier)] += 1
        by_origin_rule[(origin, rule)] += 1
        if len(examples) < args.examples and origin != "own_distractor":
            examples.append(f"  [{rule}, {origin}, {tier}] {questions[item_id][:60]!r}: {text!r} (true: {known[0]!r})")
    total = sum(counts.values())
    per_origin = Counter(graded["origin"].to_list())
    print(f"{args.benchmark}: {graded.height} graded negatives {dict(per_origin)}; {len(groups.members)} twin groups")
    print(f"false negatives: {total} ({total / max(1, graded.height):.1%}) by rule {dict(counts)}")
    for origin in sorted(per_origin):
        fn = sum(n for (o, _), n in by_origin_tier.items() if o == origin)
        tiers = {t: n for (o, t), n in sorted(by_origin_tier.items()) if o == origin}
        near = graded.filter((graded["origin"] == origin) & (graded["tier"] == "near_miss")).height
        rules = {r: n for (o, r), n in sorted(by_origin_rule.items()) if o == origin}
        print(
            f"  {origin}: {fn} of {per_origin[origin]} ({fn / per_origin[origin]:.1%}); by rule {rules}; "
            f"by tier {tiers}; near_miss {tiers.get('near_miss', 0)} of {near}"
        )
    print("\n".join(examples))


if __name__ == "__main__":
    main()
