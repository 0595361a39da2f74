"""Hand-made items of a `quiz` benchmark and unit vectors, for the mining tests."""

import numpy as np

from warehouse.items import Item


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
