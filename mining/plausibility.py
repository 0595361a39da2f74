"""Plausibility of candidate negatives: the base model's log-likelihood of each candidate as the
answer to its item (0-shot, the item's own prompt), compared with the gold answer's; and how much more
likely the question makes it, the pointwise mutual information (PMI)
log p(answer | question) - log p(answer | neutral premise), as lm-evaluation-harness's
`acc_mutual_info` and the domain-conditional PMI of the surface-form-competition work compute it.
The unconditional pass scores each distinct answer text once, through the same cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from likra.scoring.cached import CachedScorer
from likra.scoring.engine import Request, Score
from likra.scoring.requests import answer_request
from likra.scoring.store import cache_frame
from mining.config import MiningConfig
from warehouse.items import Item
from warehouse.location import DbRef
from warehouse.sinks import Sink
from warehouse.text import text_hash

# Log-likelihoods computed between writes to the cache: a killed run keeps what it finished.
SCORE_CHUNK = 2048


@dataclass(frozen=True)
class AnswerRequest:
    """One text to score as an answer to one item (a candidate, or the gold answer)."""

    item_id: str
    norm_hash: str | None  # None for the gold answer
    text: str
    request: Request
    context_hash: str
    continuation_hash: str


def plausibility_requests(items: Sequence[Item], candidates: pl.DataFrame) -> list[AnswerRequest]:
    """A request for every candidate and for the gold answer of every item that has candidates."""
    by_id = {item.item_id: item for item in items}
    requests = []
    for item_id in candidates["item_id"].unique(maintain_order=True).to_list():
        item = by_id[item_id]
        gold = item.choices[item.gold]
        requests.append(AnswerRequest(item_id, None, gold, *answer_request(item, gold, item.description or "")))
    for item_id, h, text in candidates.select("item_id", "norm_hash", "text").iter_rows():
        item = by_id[item_id]
        requests.append(AnswerRequest(item_id, h, text, *answer_request(item, text, item.description or "")))
    return requests


def unconditional_request(item: Item, text: str, premise: str) -> tuple[Request, str, str]:
    """The request scoring what `text` scores as an answer to `item` after the neutral premise instead of the prompt.

    An empty premise is lm-eval's `acc_mutual_info`: the answer alone after the model's prefix token, without
    the target delimiter. Partial-format items score their shared continuation, so their PMI margin is the
    log-likelihood margin."""
    scored = (item.continuation or "") if item.format == "partial" else text
    context, continuation = premise, (item.target_delimiter + scored if premise else scored)
    # One group: the premise runs once; each text is its own family, so rows pack densely.
    request = Request(context, continuation, family=continuation, group=("premise", premise))
    return request, text_hash(context), text_hash(continuation)


def unconditional_requests(
    items: Sequence[Item], requests: Sequence[AnswerRequest], premise: str
) -> list[AnswerRequest]:
    """The unconditional twin of every plausibility request (texts repeat: the cache keys are shared)."""
    by_id = {item.item_id: item for item in items}
    return [
        AnswerRequest(r.item_id, r.norm_hash, r.text, *unconditional_request(by_id[r.item_id], r.text, premise))
        for r in requests
    ]


def plausibility_frame(
    candidates: pl.DataFrame,
    requests: Sequence[AnswerRequest],
    scores: dict[tuple[str, str], Score],
    items: Sequence[Item],
    unconditional: Sequence[AnswerRequest] = (),
) -> pl.DataFrame:
    """Candidates with loglik, per token and per character, the gold's loglik, rank and margins, and (with the
    unconditional requests) the unconditional loglik, PMI and PMI margin."""
    by_id = {item.item_id: item for item in items}

    def scored_length(r: AnswerRequest) -> int:
        item = by_id[r.item_id]
        return len(item.continuation or "") if item.format == "partial" else len(r.text)

    uncond = {(u.item_id, u.norm_hash): scores[(u.context_hash, u.continuation_hash)].loglik for u in unconditional}
    rows = []
    for r in requests:
        score = scores[(r.context_hash, r.continuation_hash)]
        rows.append(
            {
                "item_id": r.item_id,
                "norm_hash": r.norm_hash,
                "loglik": score.loglik,
                "n_tokens": score.n_tokens,
                "loglik_per_char": score.loglik / max(1, scored_length(r)),
                "uncond_loglik": uncond.get((r.item_id, r.norm_hash)),
            }
        )
    scored = pl.DataFrame(
        rows,
        schema={
            "item_id": pl.String,
            "norm_hash": pl.String,
            "loglik": pl.Float64,
            "n_tokens": pl.Int32,
            "loglik_per_char": pl.Float64,
            "uncond_loglik": pl.Float64,
        },
        orient="row",
    )
    scored = scored.with_columns(
        (pl.col("loglik") / pl.col("n_tokens")).alias("loglik_per_token"),
        (pl.col("loglik") - pl.col("uncond_loglik")).alias("pmi"),
        pl.col("loglik").rank("min", descending=True).over("item_id").cast(pl.Int32).alias("rank"),
    )
    gold = scored.filter(pl.col("norm_hash").is_null()).select(
        "item_id",
        pl.col("loglik").alias("gold_loglik"),
        pl.col("loglik_per_token").alias("gold_per_token"),
        pl.col("loglik_per_char").alias("gold_per_char"),
        pl.col("pmi").alias("gold_pmi"),
    )
    return (
        candidates.join(scored.filter(pl.col("norm_hash").is_not_null()), on=["item_id", "norm_hash"])
        .join(gold, on="item_id")
        .with_columns(
            (pl.col("loglik") - pl.col("gold_loglik")).alias("margin"),
            (pl.col("loglik_per_token") - pl.col("gold_per_token")).alias("margin_per_token"),
            (pl.col("loglik_per_char") - pl.col("gold_per_char")).alias("margin_per_char"),
            (pl.col("pmi") - pl.col("gold_pmi")).alias("margin_pmi"),
        )
        .drop("gold_per_token", "gold_per_char")
    )


@dataclass
class Plausibility:
    """Candidates with their plausibility scores, and how many log-likelihoods were cached or computed."""

    frame: pl.DataFrame
    logliks: dict  # cached / computed / model


def score_plausibility(
    db: DbRef,
    config: MiningConfig,
    items: Sequence[Item],
    candidates: pl.DataFrame,
    sink: Sink,
    progress: Callable[[int], None] | None = None,
) -> Plausibility:
    """Log-likelihood of every candidate and gold answer (cached ones reused, new ones handed to the sink in
    chunks), and the candidates' plausibility frame."""
    requests = plausibility_requests(items, candidates)
    unconditional = unconditional_requests(items, requests, config.premise)
    distinct = {(r.context_hash, r.continuation_hash): r for r in (*requests, *unconditional)}
    scorer = CachedScorer(db, model=config.scorer_model, dtype=config.dtype)
    scores = scorer.lookup(list(distinct.values()))
    cached = len(scores)
    missing = [r for key, r in distinct.items() if key not in scores]
    for start in range(0, len(missing), SCORE_CHUNK):
        chunk = missing[start : start + SCORE_CHUNK]
        [fresh] = scorer.compute(chunk)
        sink.write(
            loglik_cache=cache_frame(
                scorer.setting(), [(r, fresh[(r.context_hash, r.continuation_hash)]) for r in chunk]
            )
        )
        scores.update(fresh)
        if progress:
            progress(len(chunk))
    counts = {
        "cached": cached,
        "computed": len(missing),
        "model": scorer.key,
        "unconditional": len({(u.context_hash, u.continuation_hash) for u in unconditional}),
    }
    return Plausibility(plausibility_frame(candidates, requests, scores, items, unconditional), counts)
