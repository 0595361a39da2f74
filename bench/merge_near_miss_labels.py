"""Join the two readers' labels to the drawn picks (bench/data/README.md): where they differ the more cautious
label wins; print their agreement (raw and Cohen's kappa).

    python bench/merge_near_miss_labels.py --picks bench/data/near_miss_picks.jsonl --a A.jsonl --b B.jsonl \
        --out bench/data/near_miss_labels.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter

from mining.labelled import LABELS  # most cautious first


def read(path: str) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two label lists."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in LABELS) / (n * n)
    return (observed - expected) / (1 - expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--picks", required=True)
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    a = {r["id"]: r["label"] for r in read(args.a)}
    b = {r["id"]: r["label"] for r in read(args.b)}
    rows = []
    for pick in read(args.picks):
        key = hashlib.sha256(f"{pick['item_id']}|{pick['norm_hash']}".encode()).hexdigest()[:10]
        first, second = a[key], b[key]
        rows.append({**pick, "label_a": first, "label_b": second, "label": min(first, second, key=LABELS.index)})
    with open(args.out, "w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    la, lb = [r["label_a"] for r in rows], [r["label_b"] for r in rows]
    wrong = [(x in LABELS[2:]) for x in la], [(y in LABELS[2:]) for y in lb]
    print(f"{len(rows)} labelled picks -> {args.out}; labels {dict(Counter(r['label'] for r in rows))}")
    print(
        f"agreement on 4 labels: {sum(x == y for x, y in zip(la, lb)) / len(rows):.1%}, kappa {kappa(la, lb):.2f}; "
        f"on wrong / not wrong: {sum(x == y for x, y in zip(*wrong)) / len(rows):.1%}"
    )


if __name__ == "__main__":
    main()
