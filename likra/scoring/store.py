"""The score tables: lookups in `loglik_cache` before scoring, and the rows a run adds to it and to
`choice_scores`. Rows are written through a `warehouse.sinks.Sink`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import duckdb
import polars as pl

from likra.scoring.engine import Request, Score
from likra.scoring.requests import ChoiceRequest

BASE_ADAPTER = "base"


class Keyed(Protocol):
    """A request with the cache keys of its context and continuation texts."""

    request: Request
    context_hash: str
    continuation_hash: str


@dataclass(frozen=True)
class Setting:
    """What a score depends on besides the text: the weights and dtype, the adapter, the few-shot count."""

    model: str
    adapter: str = BASE_ADAPTER
    fewshot: int = 0


def cached_scores(
    con: duckdb.DuckDBPyConnection, setting: Setting, requests: Sequence[Keyed]
) -> dict[tuple[str, str], Score]:
    """Scores already in the cache for these requests, by (context hash, continuation hash)."""
    if not requests:
        return {}
    keys = pl.DataFrame(
        {
            "context_hash": [r.context_hash for r in requests],
            "continuation_hash": [r.continuation_hash for r in requests],
        }
    ).unique()
    con.register("wanted_keys", keys)
    try:
        rows = con.execute(
            "SELECT c.context_hash, c.continuation_hash, loglik, n_tokens, is_greedy, n_context_tokens, truncated "
            "FROM loglik_cache c JOIN wanted_keys USING (context_hash, continuation_hash) "
            "WHERE model = ? AND adapter = ?",
            [setting.model, setting.adapter],
        ).fetchall()
    finally:
        con.unregister("wanted_keys")
    return {(r[0], r[1]): Score(r[2], r[3], r[4], r[5], r[6]) for r in rows}


def cache_frame(setting: Setting, scored: Sequence[tuple[Keyed, Score]]) -> pl.DataFrame:
    """The rows `scored` adds to `loglik_cache` (one per distinct text pair)."""
    return pl.DataFrame(
        {
            "model": setting.model,
            "adapter": setting.adapter,
            "context_hash": [r.context_hash for r, _ in scored],
            "continuation_hash": [r.continuation_hash for r, _ in scored],
            "loglik": [s.loglik for _, s in scored],
            "n_tokens": [s.n_tokens for _, s in scored],
            "n_context_tokens": [s.n_context_tokens for _, s in scored],
            "is_greedy": [s.is_greedy for _, s in scored],
            "truncated": [s.truncated for _, s in scored],
            "computed_at": datetime.now(),
        },
        schema_overrides={"n_tokens": pl.Int32, "n_context_tokens": pl.Int32},
    ).unique(["context_hash", "continuation_hash"], keep="first")


def choice_frame(setting: Setting, run_id: str, scored: Sequence[tuple[ChoiceRequest, Score]]) -> pl.DataFrame:
    """The rows `scored` puts in `choice_scores`."""
    answers = [r.item.answer_text(r.choice) for r, _ in scored]
    return pl.DataFrame(
        {
            "item_id": [r.item.item_id for r, _ in scored],
            "choice": [r.choice for r, _ in scored],
            "model": setting.model,
            "adapter": setting.adapter,
            "fewshot": setting.fewshot,
            "loglik": [s.loglik for _, s in scored],
            "n_tokens": [s.n_tokens for _, s in scored],
            "is_greedy": [s.is_greedy for _, s in scored],
            "n_chars": [len(a) for a in answers],
            "n_bytes": [len(a.encode("utf-8")) for a in answers],
            "truncated": [s.truncated for _, s in scored],
            "context_hash": [r.context_hash for r, _ in scored],
            "continuation_hash": [r.continuation_hash for r, _ in scored],
            "score_run_id": run_id,
            "scored_at": datetime.now(),
        },
        schema_overrides={
            "choice": pl.Int32,
            "fewshot": pl.Int32,
            "n_tokens": pl.Int32,
            "n_chars": pl.Int32,
            "n_bytes": pl.Int32,
        },
    )
