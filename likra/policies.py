"""How each training question's negative is chosen (PAPER.md §4.2): one function per policy, each labelled.

* `first`: the first wrong option in listed order (the released code's `--balanced`);
* `random`: a seeded random wrong option of the same question (the paper's wording);
* `most_plausible` / `least_plausible`: the own wrong option graded most / least plausible by mining
  (`graded_negatives`, ranked by the margin its tiers use: PMI by default), the paper's near miss graded
  by the model (the released code's `second-best` / `worst` rank by the base log-likelihood instead);
* `mined_near_miss`: the most plausible mined (cross-question or lexical) negative of the `near_miss`
  tier, ranked by the same margin: other questions' answers the toolkit judged wrong and plausible;
* `mined_far`: a seeded random `far` row of `graded_negatives`, any origin;
* `other_question`: an option of a seeded random other training question of the benchmark ("irrelevant");
* `other_benchmark`: an option of a seeded random item of another ingested benchmark ("unrelated").

A wrong option is never a true answer of the question, also not one that normalises alike. A policy
that finds nothing for a question skips it, and the reason is counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from warehouse.errors import LikraError
from warehouse.items import Item
from warehouse.negatives import ORIGINS, load_negatives
from warehouse.text import normalize

SAME_QUESTION = ORIGINS[0]
MINED_ORIGINS = list(ORIGINS[1:])  # cross_question, lexical


class PolicyError(LikraError):
    """A policy that cannot choose a negative for any question; the message says what to run first."""


@dataclass(frozen=True)
class Negative:
    """The answer a question's negative row teaches, and where it comes from."""

    answer: str
    source: str  # own_distractor | cross_question | lexical | other_question | other_benchmark
    source_item_id: str | None


def rng(seed: int, *keys: str) -> random.Random:
    """A generator for one decision, independent of the order decisions are made in."""
    return random.Random(":".join([str(seed), *keys]))


def true_texts(item: Item) -> set[str]:
    """The item's true answers, normalised."""
    return {normalize(item.choices[c]) for c in item.true_choices}


def wrong_choices(item: Item) -> list[int]:
    """Options that are neither a true answer nor one written differently."""
    truth = true_texts(item)
    return [c for c, text in enumerate(item.choices) if c not in item.true_choices and normalize(text) not in truth]


def _own(item: Item, choice: int) -> Negative:
    return Negative(item.choices[choice], SAME_QUESTION, item.item_id)


def first(items: Sequence[Item], **_) -> dict[str, Negative | str]:
    """The first wrong option in listed order."""
    return {i.item_id: _own(i, wrong_choices(i)[0]) if wrong_choices(i) else "no_wrong_option" for i in items}


def random_option(items: Sequence[Item], seed: int, **_) -> dict[str, Negative | str]:
    """A seeded random wrong option."""
    return {
        i.item_id: _own(i, rng(seed, "random", i.item_id).choice(wrong_choices(i)))
        if wrong_choices(i)
        else "no_wrong_option"
        for i in items
    }


def by_plausibility(items: Sequence[Item], graded: dict[str, list[dict]], highest: bool) -> dict[str, Negative | str]:
    """The own wrong option mining graded most (or least) plausible; `graded` holds each item's own-distractor
    rows, most plausible first."""
    chosen: dict[str, Negative | str] = {}
    for item in items:
        wrong = {item.choices[c]: c for c in reversed(wrong_choices(item))}  # the first listed of equal texts
        options = [wrong[r["negative"]] for r in graded.get(item.item_id, []) if r["negative"] in wrong]
        if not wrong:
            chosen[item.item_id] = "no_wrong_option"
        elif not options:
            chosen[item.item_id] = "no_graded_negatives"
        else:
            chosen[item.item_id] = _own(item, options[0] if highest else options[-1])
    return chosen


def mined(items: Sequence[Item], rows: dict[str, list[dict]], tier: str, seed: int) -> dict[str, Negative | str]:
    """The most plausible near-miss, or a seeded random far negative, of each question."""
    chosen: dict[str, Negative | str] = {}
    for item in items:
        found = [r for r in rows.get(item.item_id, []) if normalize(r["negative"]) not in true_texts(item)]
        if not found:
            chosen[item.item_id] = f"no_{tier}"
            continue
        row = found[0] if tier == "near_miss" else rng(seed, tier, item.item_id).choice(found)
        chosen[item.item_id] = Negative(row["negative"], row["origin"], row["origin_item_id"])
    return chosen


def from_answers(
    items: Sequence[Item], answers: Sequence[tuple[str, str]], source: str, seed: int, tries: int = 20
) -> dict[str, Negative | str]:
    """A seeded random (answer, item id) of `answers` that is not this question's own nor a true answer of it."""
    chosen: dict[str, Negative | str] = {}
    for item in items:
        pick, truth = rng(seed, source, item.item_id), true_texts(item)
        for _ in range(tries if answers else 0):
            text, origin = pick.choice(answers)
            if origin != item.item_id and normalize(text) not in truth:
                chosen[item.item_id] = Negative(text, source, origin)
                break
        else:
            chosen[item.item_id] = f"no_{source}_answer"
    return chosen


def _other_benchmark_answers(con: duckdb.DuckDBPyConnection, benchmark: str, only: str | None) -> list[tuple[str, str]]:
    where, params = "benchmark <> ? AND format = 'continuation'", [benchmark]
    if only:
        where += " AND benchmark = ?"
        params.append(only)
    rows = con.execute(f"SELECT item_id, unnest(choices) FROM items WHERE {where} ORDER BY item_id", params).fetchall()
    return [(text, item_id) for item_id, text in rows]


def choose_negatives(
    con: duckdb.DuckDBPyConnection,
    benchmark: str,
    items: Sequence[Item],
    policy: str,
    seed: int,
    *,
    other_benchmark: str | None = None,
) -> tuple[dict[str, Negative], Counter]:
    """Each question's negative under `policy`, and the questions skipped by reason."""
    choosers: dict[str, Callable[[], dict[str, Negative | str]]] = {
        "first": lambda: first(items),
        "random": lambda: random_option(items, seed),
        "most_plausible": lambda: by_plausibility(items, _graded_rows(con, benchmark, None, [SAME_QUESTION]), True),
        "least_plausible": lambda: by_plausibility(items, _graded_rows(con, benchmark, None, [SAME_QUESTION]), False),
        "mined_near_miss": lambda: mined(
            items, _graded_rows(con, benchmark, ["near_miss"], MINED_ORIGINS), "near_miss", seed
        ),
        "mined_far": lambda: mined(items, _graded_rows(con, benchmark, ["far"], None), "far", seed),
        "other_question": lambda: from_answers(
            items, [(t, i.item_id) for i in items for t in i.choices], "other_question", seed
        ),
        "other_benchmark": lambda: from_answers(
            items, _other_benchmark_answers(con, benchmark, other_benchmark), "other_benchmark", seed
        ),
    }
    if policy not in choosers:
        raise PolicyError(f"unknown policy {policy!r}; known: {', '.join(choosers)}")
    chosen = choosers[policy]()
    negatives = {k: v for k, v in chosen.items() if isinstance(v, Negative)}
    skipped = Counter(v for v in chosen.values() if isinstance(v, str))
    if items and not negatives:
        raise PolicyError(
            f"policy {policy} found no negative for any of the {len(items)} training questions of "
            f"{benchmark!r} ({', '.join(sorted(skipped))}): {_remedy(policy, benchmark)}"
        )
    return negatives, skipped


def _graded_rows(
    con: duckdb.DuckDBPyConnection, benchmark: str, tiers: list[str] | None, origins: list[str] | None
) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in load_negatives(con, benchmark, tiers=tiers, origins=origins).iter_rows(named=True):
        rows.setdefault(row["item_id"], []).append(row)
    return rows


def _remedy(policy: str, benchmark: str) -> str:
    return {
        "most_plausible": f"mine negatives first (`likra mine {benchmark}`): it grades the own distractors",
        "least_plausible": f"mine negatives first (`likra mine {benchmark}`): it grades the own distractors",
        "mined_near_miss": f"mine negatives first (`likra mine {benchmark}`)",
        "mined_far": f"mine negatives first (`likra mine {benchmark}`)",
        "other_benchmark": "ingest another benchmark with answer texts first (e.g. `likra ingest demo`)",
    }.get(policy, "every question lacks a wrong option")
