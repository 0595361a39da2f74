"""The labelled near misses (bench/data/README.md): candidate negatives read one by one and labelled `correct`,
`arguable`, `wrong_offtopic` or `wrong_plausible`, blind to the tool's scores. A mining run whose graded rows
include labelled ones reports, per tier and origin, the share that is wrong and the share that is a real near
miss (wrong and plausible), each with a Wilson 95% interval.

The labels are read from $LIKRA_NEAR_MISS_LABELS, else the copy in the repository's bench/data.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import polars as pl

LABELS_ENV = "LIKRA_NEAR_MISS_LABELS"
DEFAULT_LABELS = Path(__file__).resolve().parents[1] / "bench" / "data" / "near_miss_labels.jsonl"
LABELS = ("correct", "arguable", "wrong_offtopic", "wrong_plausible")
WRONG = ("wrong_offtopic", "wrong_plausible")
REAL_NEAR_MISS = "wrong_plausible"


def labels_path() -> Path:
    """Where the labels are read from."""
    return Path(os.environ.get(LABELS_ENV) or DEFAULT_LABELS)


def load_labels(path: Path | None = None) -> pl.DataFrame:
    """The labelled picks (item_id, norm_hash, origin, part, label, ...); empty when there is no labels file."""
    path = path or labels_path()
    if not path.is_file():
        return pl.DataFrame(
            schema={"item_id": pl.String, "norm_hash": pl.String, "part": pl.String, "label": pl.String}
        )
    return pl.read_ndjson(path)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def share(k: int, n: int) -> dict:
    """k of n with its share and interval, for reports."""
    low, high = wilson(k, n)
    return {"k": k, "n": n, "share": round(k / n, 4) if n else None, "low": round(low, 4), "high": round(high, 4)}


def tier_precision(graded: pl.DataFrame, labels: pl.DataFrame) -> list[dict]:
    """Per tier and origin of the graded rows that carry a label: how many are wrong, and real near misses."""
    if labels.is_empty() or graded.is_empty():
        return []
    joined = graded.select("item_id", "norm_hash", "tier", "origin").join(
        labels.select("item_id", "norm_hash", "label", "part"), on=["item_id", "norm_hash"]
    )
    rows = []
    for (tier, origin), part in joined.group_by("tier", "origin", maintain_order=True):
        n = part.height
        rows.append(
            {
                "tier": tier,
                "origin": origin,
                "labelled": n,
                "wrong": share(int(part["label"].is_in(WRONG).sum()), n),
                "wrong_plausible": share(int((part["label"] == REAL_NEAR_MISS).sum()), n),
            }
        )
    return sorted(rows, key=lambda r: (r["origin"], r["tier"]))
