"""Scoring requests from warehouse items, with lm-evaluation-harness's context: description, a fixed
few-shot block (the first k items of the few-shot split, as its `first_n` sampler), then the prompt."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from likra.scoring.engine import Request
from warehouse.errors import WarehouseError

ITEM_COLUMNS = ("item_id, benchmark, split, subset, position, prompt, description, choices, gold, golds, "
                "format, continuation, target_delimiter, question")
FEWSHOT_DELIMITER = "\n\n"


@dataclass(frozen=True)
class ItemRow:
    """The columns of `items` that scoring needs."""

    item_id: str
    benchmark: str
    split: str
    subset: str | None
    position: int
    prompt: str
    description: str | None
    choices: tuple[str, ...]
    gold: int
    golds: tuple[int, ...] | None
    format: str
    continuation: str | None
    target_delimiter: str
    question: str

    def answer_text(self, choice: int) -> str:
        """The text whose length acc_norm divides by: the choice, or for the partial format the shared suffix."""
        return self.choices[choice] if self.format == "continuation" else self.continuation or ""

    def as_exemplar(self) -> str:
        """This item with its answer, as one few-shot example."""
        if self.format == "partial":
            return f"{self.choices[self.gold]}{self.target_delimiter}{self.continuation}{FEWSHOT_DELIMITER}"
        return f"{self.prompt}{self.target_delimiter}{self.choices[self.gold]}{FEWSHOT_DELIMITER}"


def _rows(con: duckdb.DuckDBPyConnection, where: str, params: list) -> list[ItemRow]:
    rows = con.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE {where} ORDER BY split, subset, position", params)
    return [ItemRow(*r[:7], tuple(r[7]), r[8], tuple(r[9]) if r[9] is not None else None, *r[10:])
            for r in rows.fetchall()]


def load_items(con: duckdb.DuckDBPyConnection, benchmark: str, splits: Sequence[str] | None = None,
               limit: int | None = None) -> list[ItemRow]:
    """Items of a benchmark in source order, optionally only some splits and the first `limit` of each."""
    where, params = "benchmark = ?", [benchmark]
    if splits:
        where += " AND list_contains(?, split)"
        params.append(list(splits))
    items = _rows(con, where, params)
    if not items:
        ingested = con.execute("SELECT DISTINCT split FROM items WHERE benchmark = ?", [benchmark]).fetchall()
        if not ingested:
            raise WarehouseError(f"benchmark {benchmark!r} is not ingested yet: run `likra ingest {benchmark}` first")
        raise WarehouseError(f"benchmark {benchmark!r} has no items in split(s) {', '.join(splits or [])}; "
                             f"ingested: {', '.join(sorted(s for (s,) in ingested))}")
    if limit is not None:
        per_split: dict[str, int] = defaultdict(int)
        kept = []
        for item in items:
            if per_split[item.split] < limit:
                kept.append(item)
                per_split[item.split] += 1
        items = kept
    return items


def fewshot_pools(con: duckdb.DuckDBPyConnection, benchmark: str, k: int, split: str | None,
                  scored_splits: set[str]) -> tuple[str, dict[str | None, list[ItemRow]]]:
    """The few-shot split and, per subset, its first k+1 items (one spare for an item that is itself an exemplar)."""
    available = [s for (s,) in con.execute("SELECT DISTINCT split FROM items WHERE benchmark = ?", [benchmark]).fetchall()]
    if split is None:
        others = [s for s in ("train", "dev", "validation", "test") if s in available and s not in scored_splits]
        split = others[0] if others else sorted(scored_splits)[0]
    elif split not in available:
        raise WarehouseError(f"few-shot split {split!r} of {benchmark!r} is not ingested; ingested: {', '.join(sorted(available))}")
    pools: dict[str | None, list[ItemRow]] = defaultdict(list)
    for item in _rows(con, "benchmark = ? AND split = ?", [benchmark, split]):
        if len(pools[item.subset]) <= k:
            pools[item.subset].append(item)
    return split, pools


def exemplars_for(item: ItemRow, pool: Sequence[ItemRow], k: int) -> list[ItemRow]:
    """The first k items of the pool other than the item itself (lm-eval's first_n sampler)."""
    chosen = [ex for ex in pool if ex.item_id != item.item_id][:k]
    if len(chosen) < k:
        raise WarehouseError(f"only {len(chosen)} few-shot exemplars available for {item.item_id}, {k} asked")
    return chosen


def sha256(text: str) -> str:
    """Hex digest naming a context or continuation in the score cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChoiceRequest:
    """One choice of one item to score, with the cache keys of its text."""

    item: ItemRow
    choice: int
    request: Request
    context_hash: str
    continuation_hash: str


def answer_request(item: ItemRow, text: str, prefix: str = "") -> tuple[Request, str, str]:
    """The request scoring `text` as an answer to `item`, with the cache keys of its texts.

    Continuation format scores the answer after the prompt; partial format (where answers are
    contexts) scores the item's shared continuation after the answer. `prefix` is the description
    and few-shot block."""
    if item.format == "partial":
        context, continuation = prefix + text, item.target_delimiter + (item.continuation or "")
    else:
        context, continuation = prefix + item.prompt, item.target_delimiter + text
    return Request(context, continuation, family=item.item_id, group=prefix), sha256(context), sha256(continuation)


def choice_requests(item: ItemRow, prefix: str = "") -> list[ChoiceRequest]:
    """A request per choice of the item."""
    return [ChoiceRequest(item, choice, *answer_request(item, text, prefix)) for choice, text in enumerate(item.choices)]


def build_requests(con: duckdb.DuckDBPyConnection, items: Sequence[ItemRow], k: int = 0,
                   fewshot_split: str | None = None) -> list[ChoiceRequest]:
    """Every choice request of the items, each context led by the description and k exemplars."""
    pools: dict[str | None, list[ItemRow]] = {}
    if k:
        _, pools = fewshot_pools(con, items[0].benchmark, k, fewshot_split, {i.split for i in items})
    requests = []
    for item in items:
        block = "".join(ex.as_exemplar() for ex in exemplars_for(item, pools.get(item.subset, []), k)) if k else ""
        requests += choice_requests(item, (item.description or "") + block)
    return requests
