"""Scoring through the cache: every (context, continuation) already in `loglik_cache` for a model and
adapter is read, only the rest runs through the engine, and the model is loaded only when something
is missing. Several adapters of one peft model (and the base, adapters off) are scored in one pass."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from likra.models import DEFAULT_MODEL, LoadedModel, load_model, model_key
from likra.scoring.engine import Score, Scorer
from likra.scoring.requests import ChoiceRequest
from likra.scoring.store import BASE_ADAPTER, Keyed, Setting, cache_frame, cached_scores, choice_frame
from warehouse.db import connect_read_only
from warehouse.location import DbRef
from warehouse.sinks import Sink

Key = tuple[str, str]  # (context hash, continuation hash)


def key_of(request: Keyed) -> Key:
    """The cache key of a request's texts."""
    return request.context_hash, request.continuation_hash


class CachedScorer:
    """Scores keyed requests with one model, answering from `loglik_cache` first and loading the
    model (through `loader`, e.g. with adapters attached) only when something is missing."""

    def __init__(
        self,
        db: DbRef = None,
        *,
        model: str = DEFAULT_MODEL,
        loaded: LoadedModel | None = None,
        dtype: str = "auto",
        scorer_options: dict | None = None,
        loader: Callable[[], LoadedModel] | None = None,
    ):
        self.db, self.model, self.dtype = db, model, dtype
        self.loaded = loaded
        self.loader = loader or (lambda: load_model(self.model, dtype=self.dtype))
        self.scorer_options = scorer_options or {}
        self._scorer: Scorer | None = None
        self.compute_seconds = 0.0
        self.load_seconds = 0.0
        self.key = loaded.key if loaded is not None else model_key(model, dtype)

    def _load(self) -> None:
        started = time.perf_counter()
        self.loaded = self.loader()
        self.load_seconds += time.perf_counter() - started

    @property
    def forward_tokens(self) -> int:
        """Tokens the model has run so far."""
        return self._scorer.forward_tokens if self._scorer else 0

    @property
    def dtype_name(self) -> str:
        """The dtype scores were computed in (the requested one while nothing has been computed)."""
        return str(self.loaded.dtype).removeprefix("torch.") if self.loaded is not None else self.dtype

    def setting(self, fewshot: int = 0, adapter: str = BASE_ADAPTER) -> Setting:
        """What this scorer's scores depend on besides the text."""
        return Setting(self.key, adapter, fewshot)

    def lookup(self, requests: Sequence[Keyed], adapter: str = BASE_ADAPTER) -> dict[Key, Score]:
        """Cached scores of these requests under one adapter key."""
        with connect_read_only(self.db) as con:
            return cached_scores(con, self.setting(adapter=adapter), requests)

    def compute(self, requests: Sequence[Keyed], adapters: Sequence[str | None] = (None,)) -> list[dict[Key, Score]]:
        """Run the engine on these requests under each adapter (peft name; None: the base), in one pass."""
        if not requests:
            return [{} for _ in adapters]
        if self._scorer is None:
            if self.loaded is None:
                self._load()
            self._scorer = Scorer(self.loaded, **self.scorer_options)
        started = time.perf_counter()
        scores = self._scorer.score([r.request for r in requests], adapters=adapters)
        self.compute_seconds += time.perf_counter() - started
        return [{key_of(r): s for r, s in zip(requests, per_adapter)} for per_adapter in scores]


def score_chunks(
    scorer: CachedScorer,
    requests: Sequence[ChoiceRequest],
    adapters: Mapping[str, str | None],
    fewshot: int,
    run_id: str,
    sink: Sink,
    *,
    chunk_items: int = 256,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, list[tuple[ChoiceRequest, Score]]], int]:
    """Score every request under every adapter (adapter key -> peft name, None for the base), chunk by chunk of
    whole items, each chunk's cache and choice rows written together; (scored per adapter key, cache hits)."""
    cached = {key: scorer.lookup(requests, key) for key in adapters}
    hits = sum(1 for key in adapters for r in requests if key_of(r) in cached[key])
    by_item: dict[str, list[ChoiceRequest]] = {}
    for request in requests:
        by_item.setdefault(request.item.item_id, []).append(request)
    item_ids = list(by_item)
    scored: dict[str, list[tuple[ChoiceRequest, Score]]] = {key: [] for key in adapters}
    for begin in range(0, len(item_ids), chunk_items):
        chunk = [r for item_id in item_ids[begin : begin + chunk_items] for r in by_item[item_id]]
        needed = [key for key in adapters if any(key_of(r) not in cached[key] for r in chunk)]
        union = list({key_of(r): r for key in needed for r in chunk if key_of(r) not in cached[key]}.values())
        fresh = dict(zip(needed, scorer.compute(union, [adapters[key] for key in needed]))) if needed else {}
        caches, choices = [], []
        for key in adapters:
            rows = [
                (r, fresh[key][key_of(r)] if key in fresh and key_of(r) in fresh[key] else cached[key][key_of(r)])
                for r in chunk
            ]
            setting = scorer.setting(fewshot, key)
            caches.append(cache_frame(setting, rows))
            choices.append(choice_frame(setting, run_id, rows))
            scored[key] += rows
        sink.write(loglik_cache=pl.concat(caches), choice_scores=pl.concat(choices))
        if progress:
            progress(len(chunk))
    return scored, hits
