"""Likra training sets: which items train and which evaluate, one positive and one negative row per
training question, in one seeded order both heads share.

Rules:
* Training and evaluation never share an item or a question: training items whose normalised
  question text equals an evaluation item's are left out (some benchmarks repeat a question across
  splits or files) and counted as `twin_of_eval_question`.
* `also_train_on` adds other benchmarks' items to the training pool (the paper trains its ARC-Challenge
  heads on ARC-Easy as well); the twin rule applies to them too.
* The evaluation split defaults to `test`, else `validation`. Where the benchmark has only that one
  labelled split, a deterministic hold-out is taken from it: an item is held out when the hash of its
  normalised question text falls below the `holdout` share, so twins land on the same side and every
  policy and seed evaluates on the same items.
* Rows are the exact (context, continuation) pairs the scoring engine scores: the task description,
  optional exemplars, the prompt, the target delimiter and the answer. The positive is the gold answer
  (for items with several true answers, the source's first: `gold`); the negative is the policy's.
* Questions are ordered by one seeded permutation; a question the policy finds no negative for is left
  out for both heads, so at every size N both heads have seen the same N questions.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from likra.config import TrainConfig
from likra.policies import Negative, choose_negatives
from likra.scoring.requests import ChoiceRequest, answer_request, build_requests, context_prefixes
from warehouse.errors import WarehouseError
from warehouse.items import Item, ingested_splits, load_items, read_items
from warehouse.text import normalize

HEADS = ("positive", "negative")
ROW_SCHEMA = {
    "set_id": pl.String,
    "head": pl.String,
    "position": pl.Int32,
    "item_id": pl.String,
    "context": pl.String,
    "continuation": pl.String,
    "answer": pl.String,
    "source": pl.String,
    "source_item_id": pl.String,
}


@dataclass
class Split:
    """Which items train and which evaluate."""

    train: list[Item]
    eval: list[Item]
    train_splits: list[str]
    eval_split: str
    holdout: bool
    twins_dropped: int = 0


@dataclass
class TrainingSet:
    """A benchmark's training rows under one policy and seed, and the evaluation items they exclude."""

    set_id: str
    benchmark: str
    split: Split
    rows: pl.DataFrame  # ROW_SCHEMA, both heads
    skipped: Counter = field(default_factory=Counter)

    @property
    def n_train(self) -> int:
        """Training questions (each with a positive and a negative row)."""
        return self.rows.filter(pl.col("head") == "positive").height

    def leaks(self) -> int:
        """Training rows whose item is an evaluation item or asks an evaluation question (0 by construction)."""
        eval_ids = {i.item_id for i in self.split.eval}
        eval_questions = {normalize(i.question) for i in self.split.eval}
        questions = {i.item_id: normalize(i.question) for i in self.split.train}
        return sum(
            1
            for item_id in self.rows["item_id"].to_list()
            if item_id in eval_ids or questions.get(item_id) in eval_questions
        )


def holdout_share(question: str) -> float:
    """Where a question falls in [0, 1): a hash of its normalised text, the same on every run."""
    digest = hashlib.sha256(f"holdout:{normalize(question)}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def split_items(con: duckdb.DuckDBPyConnection, benchmark: str, config: TrainConfig) -> Split:
    """The training and evaluation items of a benchmark, disjoint by item and by normalised question."""
    ingested = ingested_splits(con, benchmark)
    if not ingested:
        load_items(con, benchmark)  # raises the "not ingested yet" error
    eval_split = config.eval_split or next((s for s in ("test", "validation") if s in ingested), ingested[0])
    if eval_split not in ingested:
        raise WarehouseError(
            f"evaluation split {eval_split!r} of {benchmark!r} is not ingested; ingested: {', '.join(ingested)}"
        )
    train_splits = config.train_splits if config.train_splits is not None else [s for s in ingested if s != eval_split]
    missing = sorted(set(train_splits) - set(ingested))
    if missing:
        raise WarehouseError(
            f"training split(s) {', '.join(missing)} of {benchmark!r} are not ingested; ingested: {', '.join(ingested)}"
        )
    holdout = not train_splits or eval_split in train_splits
    evaluated = load_items(con, benchmark, [eval_split])
    trained = (
        load_items(con, benchmark, [s for s in train_splits if s != eval_split])
        if set(train_splits) - {eval_split}
        else []
    )
    if holdout:
        kept = [i for i in evaluated if holdout_share(i.question) < config.holdout]
        trained += [i for i in evaluated if holdout_share(i.question) >= config.holdout]
        evaluated = kept
    for other in config.also_train_on:
        trained += load_items(con, other)
    eval_questions = {normalize(i.question) for i in evaluated}
    train = [i for i in trained if normalize(i.question) not in eval_questions]
    return Split(
        train,
        evaluated,
        sorted({*train_splits, *([eval_split] if holdout else [])}),
        eval_split,
        holdout,
        twins_dropped=len(trained) - len(train),
    )


def _rows(set_id: str, order: list[Item], negatives: dict[str, Negative], prefixes: dict[str, str]) -> pl.DataFrame:
    rows = []
    for position, item in enumerate(i for i in order if i.item_id in negatives):
        for head, answer, source, origin in (
            ("positive", item.choices[item.gold], "gold", item.item_id),
            (
                "negative",
                negatives[item.item_id].answer,
                negatives[item.item_id].source,
                negatives[item.item_id].source_item_id,
            ),
        ):
            request, _, _ = answer_request(item, answer, prefixes[item.item_id])
            rows.append(
                (set_id, head, position, item.item_id, request.context, request.continuation, answer, source, origin)
            )
    return pl.DataFrame(rows, schema=ROW_SCHEMA, orient="row")


def build_training_set(con: duckdb.DuckDBPyConnection, benchmark: str, config: TrainConfig) -> TrainingSet:
    """The training set of a benchmark under the config's policy and seed."""
    split = split_items(con, benchmark, config)
    if not split.train:
        raise WarehouseError(
            f"{benchmark!r} has no training items left: its {split.eval_split} split is the "
            "evaluation split; ingest a training split or lower `holdout`"
        )
    order = sorted(split.train, key=lambda i: i.item_id)
    random.Random(config.seed).shuffle(order)
    negatives, skipped = choose_negatives(
        con, benchmark, order, config.policy, config.seed, other_benchmark=config.other_benchmark
    )
    if split.twins_dropped:
        skipped["twin_of_eval_question"] = split.twins_dropped
    prefixes = context_prefixes(con, order, config.train_fewshot, None)
    rows = _rows("", order, negatives, prefixes)
    digest = hashlib.sha256(
        json.dumps([benchmark, config.set_settings(), sorted(i.item_id for i in split.eval)], sort_keys=True).encode()
    )
    digest.update(rows.drop("set_id").write_csv().encode())
    set_id = f"{benchmark}-{config.policy}-{digest.hexdigest()[:12]}"
    return TrainingSet(set_id, benchmark, split, rows.with_columns(pl.lit(set_id).alias("set_id")), skipped)


def training_set_frames(training: TrainingSet, config: TrainConfig) -> dict[str, pl.DataFrame]:
    """The rows a training set adds to `likra_training_sets`, `likra_set_items` and `likra_training_rows`
    (written once: a set's id names its content)."""
    split = training.split
    return {
        "likra_training_sets": pl.DataFrame(
            [
                {
                    "set_id": training.set_id,
                    "benchmark": training.benchmark,
                    "policy": config.policy,
                    "seed": config.seed,
                    "train_splits": split.train_splits,
                    "eval_split": split.eval_split,
                    "holdout": split.holdout,
                    "n_train": training.n_train,
                    "n_eval": len(split.eval),
                    "skipped": json.dumps(dict(training.skipped)),
                    "config": json.dumps(config.set_settings()),
                    "created_at": datetime.now(),
                }
            ],
            schema_overrides={"seed": pl.Int32, "n_train": pl.Int32, "n_eval": pl.Int32},
        ),
        "likra_set_items": pl.DataFrame(
            {
                "set_id": training.set_id,
                "item_id": [i.item_id for i in split.train] + [i.item_id for i in split.eval],
                "role": ["train"] * len(split.train) + ["eval"] * len(split.eval),
            }
        ),
        "likra_training_rows": training.rows,
    }


def training_rows(con: duckdb.DuckDBPyConnection, set_id: str, head: str) -> list[tuple[str, str]]:
    """(context, continuation) of a head's rows, in training order."""
    return con.execute(
        "SELECT context, continuation FROM likra_training_rows WHERE set_id = ? AND head = ? ORDER BY position",
        [set_id, head],
    ).fetchall()


def eval_items(con: duckdb.DuckDBPyConnection, set_id: str) -> list[Item]:
    """The evaluation items of a training set, in source order."""
    return read_items(
        con, "item_id IN (SELECT item_id FROM likra_set_items WHERE set_id = ? AND role = 'eval')", [set_id]
    )


def exemplar_items(con: duckdb.DuckDBPyConnection, set_id: str) -> list[Item]:
    """The set's training questions of its own benchmark, in source order: where evaluation exemplars come from,
    so that no evaluated item is ever an exemplar."""
    return read_items(
        con,
        "item_id IN (SELECT item_id FROM likra_set_items WHERE set_id = ? AND role = 'train') "
        "AND benchmark = (SELECT benchmark FROM likra_training_sets WHERE set_id = ?)",
        [set_id, set_id],
    )


def eval_requests(con: duckdb.DuckDBPyConnection, set_id: str, items: list[Item], k: int) -> list[ChoiceRequest]:
    """Every choice of the evaluation items, each prompt led by the first k training questions with their answers
    (lm-eval's first_n sampler over the training questions, per subset)."""
    return build_requests(con, items, k, exemplars=exemplar_items(con, set_id) if k else None)
