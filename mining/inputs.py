"""What a mining run reads, once: the benchmark's items, the answer pool in scope, the texts that need
embeddings, and the key that says whether stored candidates were mined from exactly these inputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import polars as pl

from mining.config import MiningConfig
from mining.embeddings import embedder_key
from mining.errors import MiningError
from mining.pool import answer_occurrences, answer_pool
from mining.twins import QuestionGroups, question_groups
from warehouse.db import connect_read_only
from warehouse.items import Item, load_items
from warehouse.location import DbRef
from warehouse.text import norm_hash, short_text_hash

# Bump when candidate generation returns something else for the same inputs: stored sets then stop matching.
CANDIDATES_VERSION = 3
# The settings candidates depend on; the scorer and the tier rules only change grading.
CANDIDATE_SETTINGS = {"embedder", "scope", "query", "k", "lexical_k", "max_sim_to_gold", "guard", "index"}


@dataclass
class MiningInputs:
    """The items of the benchmark, the answer pool in scope, and every text that needs an embedding."""

    benchmark: str
    items: list[Item]
    pool: pl.DataFrame
    texts: dict[str, str]  # text hash -> text, for every text that needs its own embedding
    aliases: dict[str, str] = field(default_factory=dict)  # text hash -> hash of the pool form it normalises to
    key: str = ""  # `candidates_key` of these inputs under the run's settings
    groups: QuestionGroups = field(default_factory=QuestionGroups)  # twin questions of the items, in any benchmark

    @property
    def known_true(self) -> dict[str, tuple[str, ...]]:
        """Item id -> the true answers of its twin questions (beyond its own)."""
        return self.groups.known_true


def load_inputs(db: DbRef, benchmark: str, config: MiningConfig) -> MiningInputs:
    """Items of the benchmark and the answer pool (same benchmark or all, by config), with their candidates key."""
    with connect_read_only(db) as con:
        items = load_items(con, benchmark)
        occurrences = answer_occurrences(con, None if config.scope == "all" else [benchmark])
        groups = question_groups(con, benchmark)
    pool = answer_pool(occurrences)
    if pool.is_empty() and (config.k or config.lexical_k):
        raise MiningError(
            f"the answer pool of {benchmark!r} (scope {config.scope}) is empty: there are no answer texts to mine "
            "(partial-format items score contexts, not answers); set k and lexical_k to 0 to grade only each "
            "item's own distractors, or mine with scope 'all'"
        )
    texts = dict(zip(pool["text_hash"].to_list(), pool["text"].to_list()))
    pool_form = dict(zip(pool["norm_hash"].to_list(), pool["text_hash"].to_list()))
    aliases: dict[str, str] = {}
    for item in items:
        for text in (*item.choices, *groups.known_true.get(item.item_id, ())):
            h = short_text_hash(text)
            # Spellings that normalise alike ("Mars." / "mars") share the pool form's embedding.
            if h not in texts and norm_hash(text) in pool_form:
                aliases[h] = pool_form[norm_hash(text)]
            else:
                texts.setdefault(h, text)
        texts.setdefault(short_text_hash(item.question), item.question)
    inputs = MiningInputs(benchmark, items, pool, texts, aliases, groups=groups)
    inputs.key = candidates_key(inputs, config)
    return inputs


def candidates_key(inputs: MiningInputs, config: MiningConfig) -> str:
    """Hash of everything a benchmark's candidates depend on: settings, embedding weights, items, answer pool."""
    digest = hashlib.sha256()
    settings = config.model_dump(mode="json", include=CANDIDATE_SETTINGS)
    digest.update(json.dumps([CANDIDATES_VERSION, embedder_key(config.embedder), settings], sort_keys=True).encode())
    columns = {
        "item_id": [i.item_id for i in inputs.items],
        "format": [i.format for i in inputs.items],
        "question": [i.question for i in inputs.items],
        "choices": [json.dumps(i.choices) for i in inputs.items],
        "gold": [json.dumps([i.gold, i.golds]) for i in inputs.items],
        "known_true": [json.dumps(inputs.known_true.get(i.item_id, [])) for i in inputs.items],
        **{
            name: inputs.pool[name].cast(pl.String).to_list()
            for name in ("norm_hash", "text", "first_item_id", "n_occurrences", "n_gold")
        },
    }
    for name, values in columns.items():  # one joined string per column: fast for a pool of millions
        digest.update(f"{name}:{len(values)}\x1e".encode())
        digest.update("\x1f".join(values).encode())
    return digest.hexdigest()[:32]
