"""Hand-made items of a `quiz` benchmark and unit vectors, for the mining tests."""

import numpy as np
import polars as pl

from warehouse.items import Item
from warehouse.text import normalize
from warehouse.text import short_text_hash as text_hash


def quiz_item(item_id: str, question: str, choices: list[str], gold: int) -> Item:
    """An item of the `quiz` benchmark's test split, prompted as the built-in benchmarks are."""
    return Item(
        source_id=item_id.rsplit("/", 1)[1],
        prompt=f"Question: {question}\nAnswer:",
        choices=choices,
        gold=gold,
        question=question,
        benchmark="quiz",
        split="test",
    )


def unit(*values: float) -> np.ndarray:
    """The vector of these values scaled to length 1 (a stand-in embedding)."""
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def occurrences(items: list[Item]) -> pl.DataFrame:
    """Every choice of the items as the answer occurrences `mining.pool.answer_pool` reads."""
    return pl.DataFrame(
        [
            {
                "item_id": i.item_id,
                "benchmark": "quiz",
                "choice": c,
                "text": t,
                "is_gold": c == i.gold,
                "text_hash": text_hash(t),
                "norm_hash": text_hash(normalize(t)),
            }
            for i in items
            for c, t in enumerate(i.choices)
        ]
    )
