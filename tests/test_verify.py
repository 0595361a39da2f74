"""The verifier: mined candidates that could be a true answer go to the tier `unverified`, each rule counted; own
distractors are never touched; policies never train on unverified rows; labelled precision per tier."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from quiz_items import quiz_item, unit
from tiny_models import save_tiny_cross_encoder

from mining.grading import mark_unverified
from mining.labelled import tier_precision, wilson
from mining.verify import (
    CLOSER_TO_GOLD,
    CONTAINS_TRUE,
    CROSS_ENCODER,
    GOLD_OF_SIMILAR,
    NEAR_GOLD,
    VERIFIER_RULES,
    VerifierConfig,
    contains_true_answer,
    verify,
)
from warehouse.text import norm_hash
from warehouse.text import short_text_hash as text_hash


@pytest.mark.parametrize(
    "candidate, truth, suspected",
    [
        ("cells", "ovary cells", True),  # narrower gold, broader candidate
        ("high energy", "energy", True),  # broader gold
        ("chemical weathering", "chemical", True),
        ("the lungs", "lungs", True),
        ("freezing", "It freezes.", True),  # the same word up to its stem
        ("lungs", "heart", False),
        ("salt", "salt water", True),  # a real near miss the rule gives up: precision first
        ("evaporation", "condensation", False),
    ],
)
def test_containment_of_content_words_either_way(candidate: str, truth: str, suspected: bool) -> None:
    assert contains_true_answer(candidate, [truth]) is suspected


def graded(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"item_id": pl.String, "text": pl.String, "origin": pl.String, "sim_gold": pl.Float64},
        orient="row",
    )


def test_each_rule_suspects_what_it_says_and_own_distractors_are_never_verified() -> None:
    heart = quiz_item("quiz/test/1", "Which organ pumps blood?", ["heart", "liver", "lungs"], 0)
    pump = quiz_item("quiz/test/2", "Which organ pumps blood around the body?", ["cardiac muscle organ", "skin"], 0)
    vectors = {
        text_hash(t): unit(*v)
        for t, v in {
            "Which organ pumps blood?": (1, 0, 0),
            "Which organ pumps blood around the body?": (0.95, 0.31, 0),
            "heart": (1, 0, 0),
            "liver": (0, 1, 0),
            "lungs": (0.3, 0.95, 0),
            "cardiac muscle organ": (0.6, 0.2, 0.77),
            "skin": (0, 0, 1),
            "kidney": (0.1, 0.99, 0),
            "blood vessel": (0.9, 0.1, 0.42),
        }.items()
    }
    rows = graded(
        [
            ("quiz/test/1", "heart muscle", "cross_question", 0.9),  # contains the gold's word
            ("quiz/test/1", "cardiac muscle organ", "cross_question", 0.6),  # the gold of a near-twin question
            ("quiz/test/1", "blood vessel", "cross_question", 0.9),  # with the gold, far from the distractors
            ("quiz/test/1", "kidney", "cross_question", 0.1),  # with the distractors: a near miss
            ("quiz/test/1", "lungs", "own_distractor", 0.3),
        ]
    )
    found = verify(
        rows, [heart, pump], {}, vectors, VerifierConfig(similar_question=0.9, max_sim_gold=None, gold_gap=0.0)
    )
    assert found.unverified_by == [CONTAINS_TRUE, GOLD_OF_SIMILAR, CLOSER_TO_GOLD, None, None]
    assert found.flagged[CONTAINS_TRUE] == 1 and found.flagged[GOLD_OF_SIMILAR] == 1
    assert found.flagged[CLOSER_TO_GOLD] == 2  # "cardiac muscle organ" sits with the gold too ("heart muscle" has
    # no embedding here, so that rule cannot judge it)
    off = verify(rows, [heart, pump], {}, vectors, VerifierConfig(enabled=False))
    assert off.unverified_by == [None] * 5 and not off.flagged
    # A stricter gap lets the candidate that is only a little closer to the gold through.
    looser = verify(
        rows,
        [heart, pump],
        {},
        vectors,
        VerifierConfig(containment=False, similar_question=None, max_sim_gold=None, gold_gap=0.5),
    )
    assert looser.unverified_by[1] is None and looser.unverified_by[2] == CLOSER_TO_GOLD
    # The default rules: containment, the gold of a similar question, and nearness to the gold answer.
    default = verify(rows, [heart, pump], {}, vectors, VerifierConfig(similar_question=0.9))
    assert default.unverified_by == [CONTAINS_TRUE, GOLD_OF_SIMILAR, NEAR_GOLD, None, None]
    assert default.flagged[NEAR_GOLD] == 3  # sim_gold 0.9, 0.6 and 0.9 are at least 0.55
    moved = mark_unverified(rows.with_columns(pl.lit("near_miss").alias("tier")), found.unverified_by)
    assert moved["tier"].to_list() == ["unverified"] * 3 + ["near_miss"] * 2
    assert moved["unverified_by"].to_list() == found.unverified_by


def test_a_named_cross_encoder_is_one_more_counted_rule(tmp_path: Path) -> None:
    model = str(save_tiny_cross_encoder(tmp_path / "cross-encoder"))
    item = quiz_item("quiz/test/1", "Which organ pumps blood?", ["heart", "liver"], 0)
    vectors = {text_hash(t): unit(1, 0) for t in ("Which organ pumps blood?", "heart", "liver", "kidney")}
    rows = graded([("quiz/test/1", "kidney", "cross_question", 0.1)])
    only = {"containment": False, "similar_question": None, "max_sim_gold": None, "cross_encoder": model}
    every = verify(rows, [item], {}, vectors, VerifierConfig(**only, cross_encoder_threshold=0.0))
    none = verify(rows, [item], {}, vectors, VerifierConfig(**only, cross_encoder_threshold=1.0))
    assert every.unverified_by == [CROSS_ENCODER] and none.unverified_by == [None]


def test_verifier_settings_reject_what_makes_no_sense() -> None:
    from mining.config import mining_config
    from mining.errors import MiningConfigError

    with pytest.raises(MiningConfigError, match="verifier.gold_gap"):
        mining_config(verifier={"gold_gap": float("nan")})
    with pytest.raises(MiningConfigError, match="verifier.similar_question"):
        mining_config(verifier={"similar_question": 2})


def test_labelled_precision_per_tier_with_wilson_intervals() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(19, 20)
    assert low == pytest.approx(0.7639, abs=1e-3) and high == pytest.approx(0.9911, abs=1e-3)
    rows = pl.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "norm_hash": [norm_hash(t) for t in "wxyz"],
            "tier": ["near_miss", "near_miss", "unverified", "far"],
            "origin": ["cross_question"] * 4,
        }
    )
    labels = pl.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "norm_hash": [norm_hash(t) for t in "wxy"],
            "label": ["wrong_plausible", "arguable", "correct"],
            "part": ["dev"] * 3,
        }
    )
    found = {r["tier"]: r for r in tier_precision(rows, labels)}
    assert set(found) == {"near_miss", "unverified"}  # the far row has no label
    assert found["near_miss"]["wrong"]["k"] == 1 and found["near_miss"]["wrong"]["n"] == 2
    assert found["near_miss"]["wrong_plausible"]["share"] == 0.5 and found["unverified"]["wrong"]["k"] == 0


@pytest.fixture()
def mined_demo(demo_db: Path, tiny_model: str):
    from mining.config import MiningConfig
    from mining.run import mine_benchmark

    # Wide tiers, so that the tiny model's arbitrary scores still put mined candidates in near_miss.
    config = MiningConfig(
        scorer_model=tiny_model,
        k=5,
        tiers={"near_miss_margin": -5.0, "plausible_margin": -9.0},
        verifier={"max_sim_gold": 0.5},
    )
    return demo_db, mine_benchmark("demo", db=demo_db, config=config)


def test_a_too_plausible_candidate_is_suspected_by_its_margin() -> None:
    item = quiz_item("quiz/test/1", "Which organ pumps blood?", ["heart", "liver"], 0)
    rows = graded([("quiz/test/1", "kidney", "cross_question", 0.1), ("quiz/test/1", "skin", "cross_question", 0.1)])
    rows = rows.with_columns(pl.Series("margin_pmi", [2.5, -1.0]))
    vectors = {text_hash(t): unit(1, 0) for t in ("Which organ pumps blood?", "heart", "liver")}
    found = verify(rows, [item], {}, vectors, VerifierConfig(max_margin=1.0))
    assert found.unverified_by == ["too_plausible", None]


def test_mining_sends_suspects_to_unverified_and_policies_never_train_on_them(mined_demo) -> None:
    from likra.config import TrainConfig
    from likra.data import build_training_set
    from warehouse.db import connect_read_only

    db, summary = mined_demo
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT tier, origin, unverified_by FROM graded_negatives").fetchall()
    unverified = [r for r in rows if r[0] == "unverified"]
    assert unverified and all(origin != "own_distractor" and rule for _, origin, rule in unverified)
    assert all(rule is None for tier, _, rule in rows if tier != "unverified")
    assert summary.by_tier["unverified"] == len(unverified) and set(summary.verifier) <= set(VERIFIER_RULES)
    with connect_read_only(db) as con:
        taught = build_training_set(con, "demo", TrainConfig(policy="mined_near_miss"))
        suspects = {
            (item_id, negative)
            for item_id, negative in con.execute(
                "SELECT item_id, negative FROM graded_negatives WHERE tier = 'unverified'"
            ).fetchall()
        }
    negatives = taught.rows.filter(pl.col("head") == "negative").select("item_id", "answer").rows()
    assert negatives and not suspects & set(negatives)
