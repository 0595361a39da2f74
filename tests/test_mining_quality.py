"""Mining quality: twin questions, the answer-equivalence guard, plausibility for the question (PMI),
and the run's quality report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from quiz_items import occurrences, quiz_item, unit
from tiny_models import save_tiny_cross_encoder, save_tiny_model

from likra.models import load_model
from likra.scoring.engine import Request, score_naive
from mining.candidates import generate
from mining.config import MiningConfig, mining_config
from mining.equivalence import surface_rule
from mining.errors import MiningConfigError
from mining.grading import TierRules, grade
from mining.guard import GuardConfig
from mining.pool import answer_pool
from mining.run import mine_benchmark
from mining.twins import question_groups
from warehouse.db import connect_read_only
from warehouse.ingest import ingest
from warehouse.items import load_items
from warehouse.sinks import WarehouseSink
from warehouse.text import norm_hash
from warehouse.text import short_text_hash as text_hash

PAIRS = Path(__file__).parent / "data" / "answer_pairs.csv"
SURFACE_PAIRS = [row for row in csv.DictReader(PAIRS.open()) if row["level"] == "surface"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama"))


@pytest.mark.parametrize("pair", SURFACE_PAIRS, ids=lambda p: f"{p['true_answer']}|{p['candidate']}")
def test_surface_variants_of_a_true_answer_are_the_same_answer_and_lookalikes_are_not(pair: dict) -> None:
    rule = surface_rule(pair["candidate"], [pair["true_answer"]])
    assert (rule is not None) == (pair["expected"] == "same"), rule


def test_the_labelled_pairs_cover_every_kind_of_surface_variant() -> None:
    kinds = {row["kind"] for row in SURFACE_PAIRS}
    assert kinds >= {"article", "preposition", "plural", "verb_form", "number", "unit", "lookalike"}
    assert sum(row["expected"] == "different" for row in SURFACE_PAIRS) >= 20


def test_the_guard_replaces_true_answers_in_other_forms_with_the_next_neighbours_and_counts_each_rule() -> None:
    water = quiz_item("quiz/test/1", "What happens to water at 0 C?", ["It freezes.", "It boils."], 0)
    others = [
        quiz_item("quiz/test/2", "q2", ["it freeze", "steam"], 0),
        quiz_item("quiz/test/3", "q3", ["ice melts", "fog"], 0),
        quiz_item("quiz/test/4", "q4", ["the twin's answer", "rain"], 0),
    ]
    directions = {
        "It freezes.": (1, 0, 0, 0),
        "It boils.": (0.5, 0.85, 0, 0),
        "it freeze": (0.8, 0.6, 0, 0),
        "steam": (0.7, 0, 0.71, 0),
        "ice melts": (0.6, 0, 0, 0.8),
        "fog": (0.5, 0.1, 0.86, 0),
        "the twin's answer": (0.75, 0.2, 0.2, 0.6),
        "rain": (0.3, 0.3, 0.3, 0.85),
        "What happens to water at 0 C?": (1, 1, 0, 0),
        "q2": (0, 1, 0, 0),
        "q3": (0, 0, 1, 0),
        "q4": (0, 0, 0, 1),
    }
    vectors = {text_hash(t): unit(*v) for t, v in directions.items()}
    pool = answer_pool(occurrences([water, *others]))

    found = generate([water], pool, vectors, MiningConfig(k=2), known_true={water.item_id: ("the twin's answer",)})

    mined = found.frame.filter(pl.col("origin") == "cross_question")["text"].to_list()
    assert mined == ["steam", "ice melts"]  # the next neighbours took the places of the removed ones
    assert found.removed == {"same_inflection": 1, "twin_true_answer": 1}


def test_a_named_cross_encoder_judges_the_chosen_candidates(tmp_path: Path) -> None:
    model = str(save_tiny_cross_encoder(tmp_path / "tiny-nli"))
    items = [quiz_item(f"quiz/test/{n}", f"question {n}", [f"answer {n}", f"wrong {n}"], 0) for n in range(4)]
    rng = np.random.default_rng(0)
    texts = {t for i in items for t in (*i.choices, i.question)}
    vectors = {text_hash(t): v / np.linalg.norm(v) for t, v in zip(sorted(texts), rng.normal(size=(len(texts), 8)))}
    pool = answer_pool(occurrences(items))

    def mined(threshold: float):
        guard = GuardConfig(paraphrase="cross_encoder", cross_encoder=model, cross_encoder_threshold=threshold)
        return generate(items, pool, vectors, MiningConfig(k=2, max_sim_to_gold=1.0, guard=guard))

    everything, nothing = mined(0.0), mined(1.0)  # every pair entails at least 0; none with certainty 1
    assert everything.removed["paraphrase_model"] == 4 * 2
    assert set(everything.frame["origin"].to_list()) == {"own_distractor"}  # own distractors are never judged
    assert "paraphrase_model" not in nothing.removed
    assert nothing.frame.filter(pl.col("origin") == "cross_question").height == 4 * 2


def test_guard_settings_name_what_they_need() -> None:
    with pytest.raises(MiningConfigError, match="cross_encoder"):
        mining_config(guard={"paraphrase": "cross_encoder"})
    assert MiningConfig(guard=GuardConfig(paraphrase="off")).digest() != MiningConfig().digest()


def test_tiers_can_grade_by_pmi() -> None:
    frame = pl.DataFrame(
        {
            "margin_pmi": [0.5, -0.2, -1.0, -3.0],
            "margin_per_token": [-5.0, -5.0, 1.0, 1.0],
            "margin_per_char": [0.0] * 4,
            "margin": [0.0] * 4,
            "sim_gold": [0.5] * 4,
        }
    )
    rules = TierRules(measure="pmi", near_miss_margin=0.0, plausible_margin=-1.5)
    assert grade(frame, rules)["tier"].to_list() == ["near_miss", "plausible", "plausible", "far"]


@pytest.fixture(scope="module")
def truthfulqa(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    """MC1 and MC2 of the shared TruthfulQA sample: the same questions, MC2 listing every true answer."""
    db = tmp_path_factory.mktemp("truthfulqa") / "warehouse.duckdb"
    ingest("truthfulqa_mc1", db=db, path=samples / "truthfulqa")
    ingest("truthfulqa_mc2", db=db, path=samples / "truthfulqa")
    return db


def mc2_true_answers(samples: Path) -> dict[str, set[str]]:
    """The source file's true answers per question, read without the toolkit."""
    entries = json.loads((samples / "truthfulqa" / "data" / "mc_task.json").read_text(encoding="utf-8"))
    return {e["question"]: {text for text, label in e["mc2_targets"].items() if label == 1} for e in entries}


def test_each_mc1_question_has_its_mc2_item_as_twin_and_knows_its_true_answers(truthfulqa: Path, samples: Path) -> None:
    truths = mc2_true_answers(samples)
    with connect_read_only(truthfulqa) as con:
        groups = question_groups(con, "truthfulqa_mc1")
        items = {i.item_id: i for i in load_items(con, "truthfulqa_mc1")}

    assert len(groups.members) == len(items) == len(truths)
    for members in groups.members.values():
        assert sorted(m.split("/")[0] for m in members) == ["truthfulqa_mc1", "truthfulqa_mc2"]
    for item_id, item in items.items():
        known = {*groups.known_true.get(item_id, ()), item.choices[item.gold]}
        assert {norm_hash(t) for t in known} == {norm_hash(t) for t in truths[item.question]}


def test_the_question_groups_view_lists_the_twins_with_their_reason(truthfulqa: Path, tmp_path: Path) -> None:
    with connect_read_only(truthfulqa) as con:
        groups = question_groups(con, "truthfulqa_mc1")
    db = tmp_path / "copy.duckdb"
    db.write_bytes(truthfulqa.read_bytes())
    WarehouseSink(db).write(question_keys=groups.new_keys)  # as a mining run does
    with connect_read_only(db) as con:
        rows = con.execute("SELECT n_items, benchmarks, reason, len(true_answers) > 0 FROM question_groups").fetchall()
        assert question_groups(con, "truthfulqa_mc1").new_keys.is_empty()  # cached now
    assert len(rows) == len(groups.members)
    assert {(n, tuple(benchmarks), reason, answers) for n, benchmarks, reason, answers in rows} == {
        (2, ("truthfulqa_mc1", "truthfulqa_mc2"), "same question after normalisation", True)
    }


@pytest.mark.slow
def test_no_mined_negative_is_a_true_answer_of_its_question_on_truthfulqa(
    truthfulqa: Path, samples: Path, tiny_model: str, tmp_path: Path
) -> None:
    db = tmp_path / "mined.duckdb"
    db.write_bytes(truthfulqa.read_bytes())
    summary = mine_benchmark("truthfulqa_mc1", db=db, config=MiningConfig(scope="all", scorer_model=tiny_model))

    truths = mc2_true_answers(samples)
    with duckdb.connect(str(db), read_only=True) as con:
        negatives = con.execute(
            "SELECT i.question, g.negative, g.origin FROM graded_negatives g JOIN items i USING (item_id)"
        ).fetchall()
        twins = con.execute("SELECT count(*) FROM question_groups").fetchone()[0]
    assert len(negatives) == summary.negatives > 591 * 10
    repeated = [(q, n) for q, n, _ in negatives if norm_hash(n) in {norm_hash(t) for t in truths[q]}]
    variants = [(q, n) for q, n, origin in negatives if origin != "own_distractor" and surface_rule(n, truths[q])]
    assert repeated == [] and variants == []
    assert summary.removed["twin_true_answer"] > 0 and twins == 591
    several = sum(len({norm_hash(t) for t in texts}) > 1 for texts in truths.values())
    assert (
        summary.quality["false_negatives"]["items"] == several
        and summary.quality["false_negatives"]["listed_true"] == 0
    )
    assert summary.quality["twin_groups"] == 591


@pytest.fixture(scope="module")
def mined_demo(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> tuple[Path, MiningConfig]:
    db = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    ingest("demo", db=db)
    config = MiningConfig(scorer_model=tiny_model, k=3, premise="Answer:")
    mine_benchmark("demo", db=db, config=config)
    return db, config


def test_pmi_equals_a_naive_two_pass_computation(mined_demo, tiny_model: str) -> None:
    db, config = mined_demo
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT i.prompt, g.negative, g.loglik, g.uncond_loglik, g.pmi, g.gold_pmi, g.margin_pmi, "
            "i.choices[i.gold + 1] FROM graded_negatives g JOIN items i USING (item_id) "
            "ORDER BY g.item_id, g.norm_hash LIMIT 12"
        ).fetchall()
    loaded = load_model(tiny_model, dtype="fp32")
    for prompt, negative, loglik, uncond, pmi, gold_pmi, margin_pmi, gold in rows:
        conditional, unconditional, gold_conditional, gold_unconditional = score_naive(
            loaded,
            [
                Request(prompt, " " + negative),
                Request(config.premise, " " + negative),
                Request(prompt, " " + gold),
                Request(config.premise, " " + gold),
            ],
        )
        assert loglik == pytest.approx(conditional.loglik, abs=1e-4)
        assert uncond == pytest.approx(unconditional.loglik, abs=1e-4)
        assert pmi == pytest.approx(conditional.loglik - unconditional.loglik, abs=1e-4)
        assert gold_pmi == pytest.approx(gold_conditional.loglik - gold_unconditional.loglik, abs=1e-4)
        assert margin_pmi == pytest.approx(pmi - gold_pmi, abs=1e-9)


def test_the_unconditional_pass_is_cached_and_scores_each_text_once(mined_demo, tmp_path: Path) -> None:
    db, config = tmp_path / "copy.duckdb", mined_demo[1]
    db.write_bytes(mined_demo[0].read_bytes())
    again = mine_benchmark("demo", db=db, config=config)
    assert again.logliks["computed"] == 0

    neutral = config.model_copy(update={"premise": ""})  # lm-eval's acc_mutual_info: the prefix token alone
    first = mine_benchmark("demo", db=db, config=neutral)
    with duckdb.connect(str(db), read_only=True) as con:
        texts = con.execute("SELECT count(DISTINCT negative) FROM graded_negatives").fetchone()[0]
        golds = con.execute("SELECT count(DISTINCT choices[gold + 1]) FROM items").fetchone()[0]
    assert first.logliks["computed"] == first.logliks["unconditional"] <= texts + golds
    assert mine_benchmark("demo", db=db, config=neutral).logliks["computed"] == 0


def test_the_run_summary_carries_the_quality_report(mined_demo) -> None:
    db, _ = mined_demo
    with duckdb.connect(str(db), read_only=True) as con:
        summary = json.loads(con.execute("SELECT summary FROM mining_runs ORDER BY finished_at LIMIT 1").fetchone()[0])
    quality = summary["quality"]
    assert set(quality) == {
        "removed_by_guard",
        "twin_groups",
        "items_with_twins",
        "false_negatives",
        "top_near_misses",
        "labelled_precision",
    }
    assert quality["removed_by_guard"] == summary["removed"]
    for origin, samples in quality["top_near_misses"].items():
        assert origin in {"own_distractor", "cross_question"} and 0 < len(samples) <= 5
        assert {"question", "gold", "negative", "sim_gold"} <= set(samples[0])
