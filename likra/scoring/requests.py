"""Scoring requests from warehouse items, with lm-evaluation-harness's context: description, a fixed
few-shot block (the first k items of the few-shot split, as its `first_n` sampler), then the prompt."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from likra.scoring.engine import Request
from likra.scoring.tokens import ScoringError
from warehouse.errors import WarehouseError
from warehouse.items import Item, ingested_splits, read_items
from warehouse.text import text_hash

FEWSHOT_DELIMITER = "\n\n"


def exemplar(item: Item) -> str:
    """The item with its answer, as one few-shot example."""
    if item.format == "partial":
        return f"{item.choices[item.gold]}{item.target_delimiter}{item.continuation}{FEWSHOT_DELIMITER}"
    return f"{item.prompt}{item.target_delimiter}{item.choices[item.gold]}{FEWSHOT_DELIMITER}"


def fewshot_pools(
    con: duckdb.DuckDBPyConnection, benchmark: str, k: int, split: str | None, scored_splits: set[str]
) -> tuple[str, dict[str | None, list[Item]]]:
    """The few-shot split and, per subset, its first k+1 items (one spare for an item that is itself an exemplar)."""
    available = ingested_splits(con, benchmark)
    if split is None:
        others = [s for s in ("train", "dev", "validation", "test") if s in available and s not in scored_splits]
        split = others[0] if others else sorted(scored_splits)[0]
    elif split not in available:
        raise WarehouseError(
            f"few-shot split {split!r} of {benchmark!r} is not ingested; ingested: {', '.join(sorted(available))}"
        )
    return split, subset_pools(read_items(con, "benchmark = ? AND split = ?", [benchmark, split]), k)


def exemplars_for(item: Item, pool: Sequence[Item], k: int) -> list[Item]:
    """The first k items of the pool other than the item itself (lm-eval's first_n sampler)."""
    chosen = [ex for ex in pool if ex.item_id != item.item_id][:k]
    if len(chosen) < k:
        where = f" in subset {item.subset!r}" if item.subset else ""
        raise ScoringError(
            f"only {len(chosen)} few-shot exemplars available{where} for {item.item_id}, {k} asked: "
            "ask for fewer (--fewshot)"
        )
    return chosen


@dataclass(frozen=True)
class ChoiceRequest:
    """One choice of one item to score, with the cache keys of its text."""

    item: Item
    choice: int
    request: Request
    context_hash: str
    continuation_hash: str


def answer_request(item: Item, text: str, prefix: str = "") -> tuple[Request, str, str]:
    """The request scoring `text` as an answer to `item`, with the cache keys of its texts.

    Continuation format scores the answer after the prompt; partial format (where answers are
    contexts) scores the item's shared continuation after the answer. `prefix` is the description
    and few-shot block."""
    if item.format == "partial":
        context, continuation = prefix + text, item.target_delimiter + (item.continuation or "")
    else:
        context, continuation = prefix + item.prompt, item.target_delimiter + text
    return (
        Request(context, continuation, family=item.item_id, group=prefix),
        text_hash(context),
        text_hash(continuation),
    )


def choice_requests(item: Item, prefix: str = "") -> list[ChoiceRequest]:
    """A request per choice of the item."""
    return [
        ChoiceRequest(item, choice, *answer_request(item, text, prefix)) for choice, text in enumerate(item.choices)
    ]


def subset_pools(exemplars: Sequence[Item], k: int) -> dict[str | None, list[Item]]:
    """Per subset, the first k+1 of the given exemplar items (one spare, as `fewshot_pools`)."""
    pools: dict[str | None, list[Item]] = defaultdict(list)
    for item in exemplars:
        if len(pools[item.subset]) <= k:
            pools[item.subset].append(item)
    return pools


def context_prefixes(
    con: duckdb.DuckDBPyConnection,
    items: Sequence[Item],
    k: int = 0,
    fewshot_split: str | None = None,
    exemplars: Sequence[Item] | None = None,
) -> dict[str, str]:
    """What comes before each item's prompt: its task description, then k exemplars with their answers, from
    `exemplars` (per subset, the first k) when given, else from the few-shot split."""
    pools: dict[str | None, list[Item]] = {}
    if k and exemplars is not None:
        pools = subset_pools(exemplars, k)
    elif k:
        _, pools = fewshot_pools(con, items[0].benchmark, k, fewshot_split, {i.split for i in items})
    return {
        item.item_id: (item.description or "")
        + ("".join(exemplar(ex) for ex in exemplars_for(item, pools.get(item.subset, []), k)) if k else "")
        for item in items
    }


def build_requests(
    con: duckdb.DuckDBPyConnection,
    items: Sequence[Item],
    k: int = 0,
    fewshot_split: str | None = None,
    exemplars: Sequence[Item] | None = None,
) -> list[ChoiceRequest]:
    """Every choice request of the items, each context led by the description and k exemplars (from
    `exemplars` when given, else the few-shot split)."""
    prefixes = context_prefixes(con, items, k, fewshot_split, exemplars) if items else {}
    return [request for item in items for request in choice_requests(item, prefixes[item.item_id])]
