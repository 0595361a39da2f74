"""Mining: normalisation, candidate filters, tiers, caches, and runs that fail without losing the last good set."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

import likra.scoring.run as scoring_run
import mining.run as mining_run
from likra.scoring.requests import ItemRow
from mining.candidates import generate
from mining.config import MiningConfig, MiningConfigError, mining_config
from mining.embeddings import Embedder
from mining.grading import TierRules, grade
from mining.normalize import normalize, text_hash
from mining.pool import answer_pool
from mining.run import mine_benchmark
from tiny_models import save_tiny_model
from warehouse.errors import WarehouseError
from warehouse.ingest import ingest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama"))


def item(item_id: str, question: str, choices: list[str], gold: int) -> ItemRow:
    return ItemRow(item_id, "quiz", "test", None, 0, f"Question: {question}\nAnswer:", None, tuple(choices), gold, None,
                   "continuation", None, " ", question)


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_normalisation_ignores_case_whitespace_and_punctuation() -> None:
    assert normalize("  The Liver. ") == normalize("the   liver") == "the liver"
    assert normalize("Carbon-dioxide!") == "carbon dioxide"
    assert normalize("Ｍars") == "mars"  # full-width letters fold too
    assert normalize("liver") != normalize("livers")


def test_filters_drop_gold_duplicates_and_paraphrases_and_count_them() -> None:
    planets = item("quiz/test/1", "Which planet is red?", ["Mars", "Venus", "mars.", "Jupiter"], 0)
    other = item("quiz/test/2", "Which planet has rings?", ["Saturn", "MARS", "the red planet Mars", "Neptune"], 0)
    vectors = {text_hash(t): v for t, v in {
        "Mars": unit(1, 0, 0), "MARS": unit(1, 0, 0), "mars.": unit(1, 0, 0),
        "the red planet Mars": unit(0.97, 0.2, 0), "Venus": unit(0.6, 0.8, 0), "Jupiter": unit(0.5, 0, 0.87),
        "Saturn": unit(0.4, 0.3, 0.87), "Neptune": unit(0.3, 0.6, 0.74),
        "Which planet is red?": unit(0.8, 0.6, 0), "Which planet has rings?": unit(0.3, 0.3, 0.9)}.items()}
    occurrences = pl.DataFrame([
        {"item_id": i.item_id, "benchmark": "quiz", "choice": c, "text": t, "is_gold": c == i.gold,
         "text_hash": text_hash(t), "norm_hash": text_hash(normalize(t))}
        for i in (planets, other) for c, t in enumerate(i.choices)])

    found = generate([planets], answer_pool(occurrences), vectors, MiningConfig(k=5, max_sim_to_gold=0.9))

    kept = dict(zip(found.frame["text"].to_list(), found.frame["origin"].to_list()))
    assert kept == {"Venus": "own_distractor", "Jupiter": "own_distractor", "Saturn": "cross_question",
                    "Neptune": "cross_question"}
    # "mars." repeats the item's gold after normalisation, and "MARS" is the gold again as another question's
    # answer; "the red planet Mars" is a paraphrase (cosine 0.98).
    assert found.removed == {"equals_gold": 2, "too_similar_to_gold": 1}
    assert found.items_without == 0
    saturn = found.frame.filter(pl.col("text") == "Saturn").row(0, named=True)
    assert saturn["origin_item_id"] == "quiz/test/2" and saturn["search_rank"] >= 1
    assert saturn["sim_gold"] == pytest.approx(float(unit(0.4, 0.3, 0.87) @ unit(1, 0, 0)), abs=1e-6)


def test_tiers_follow_the_documented_rules() -> None:
    frame = pl.DataFrame({"margin_per_token": [0.3, -0.4, -0.4, -1.0, -2.0], "margin_per_char": [0.0] * 5,
                          "margin": [0.0] * 5, "sim_gold": [0.5, 0.5, 0.1, 0.9, 0.9]})
    assert grade(frame, TierRules())["tier"].to_list() == ["near_miss", "near_miss", "plausible", "plausible", "far"]
    strict = TierRules(near_miss_margin=0.0, plausible_margin=-0.5)
    assert grade(frame, strict)["tier"].to_list() == ["near_miss", "plausible", "plausible", "far", "far"]


def test_contradictory_or_unknown_settings_are_named() -> None:
    with pytest.raises(MiningConfigError, match="near_miss_margin .* is below plausible_margin"):
        mining_config(tiers={"near_miss_margin": -2.0, "plausible_margin": -1.0})
    with pytest.raises(MiningConfigError, match="max_sim_to_gold"):
        mining_config(max_sim_to_gold=1.5)
    with pytest.raises(MiningConfigError, match="scopee: Extra inputs are not permitted"):
        mining_config(scopee="all")
    assert mining_config(k=3).digest() != MiningConfig().digest()


@pytest.fixture()
def mined_demo(db: Path, tiny_model: str) -> tuple[Path, MiningConfig]:
    ingest("demo", db=db)
    config = MiningConfig(scorer_model=tiny_model, k=5)
    mine_benchmark("demo", db=db, config=config)
    return db, config


def graded(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT mining_run_id, item_id, norm_hash, loglik, tier FROM graded_negatives "
                           "ORDER BY item_id, norm_hash").fetchall()


def test_mining_run_stores_graded_negatives_and_an_honest_summary(mined_demo) -> None:
    db, _ = mined_demo
    with duckdb.connect(str(db), read_only=True) as con:
        origins = dict(con.execute("SELECT origin, count(*) FROM graded_negatives GROUP BY origin").fetchall())
        [(summary,)] = con.execute("SELECT summary FROM mining_runs").fetchall()
        tiers = {t for (t,) in con.execute("SELECT DISTINCT tier FROM graded_negatives").fetchall()}
        near = con.execute("SELECT count(*) FROM near_misses").fetchone()[0]
    import json

    summary = json.loads(summary)
    assert origins == {"own_distractor": 120, "cross_question": 200}
    assert summary["negatives"] == 320 and summary["items_without_negatives"] == 0
    assert summary["embeddings"]["computed"] > 0 and summary["logliks"]["computed"] > 0
    assert sum(summary["by_tier"].values()) == 320 and tiers <= {"near_miss", "plausible", "far"}
    assert near == summary["by_tier"].get("near_miss", 0)
    assert set(summary["statistics"]) >= {"gold_loglik", "negative_loglik", "margin_per_token", "sim_gold"}


def test_remining_unchanged_inputs_computes_nothing(mined_demo, monkeypatch) -> None:
    db, config = mined_demo
    before = [row[1:] for row in graded(db)]

    def forbidden(*args, **kwargs):
        raise AssertionError("a model ran although every input was cached")

    monkeypatch.setattr(Embedder, "encode", forbidden)
    monkeypatch.setattr(scoring_run, "load_model", forbidden)
    summary = mine_benchmark("demo", db=db, config=config)

    assert summary.embeddings == {"cached": summary.embeddings["cached"], "computed": 0}
    assert summary.logliks["computed"] == 0 and summary.logliks["cached"] > 0
    assert [row[1:] for row in graded(db)] == before


def test_a_failed_run_leaves_the_previous_negatives(mined_demo, monkeypatch) -> None:
    db, config = mined_demo
    before = graded(db)

    def broken(*args, **kwargs):
        raise RuntimeError("killed while grading")

    monkeypatch.setattr(mining_run, "grade_candidates", broken)
    with pytest.raises(RuntimeError, match="killed while grading"):
        mine_benchmark("demo", db=db, config=config.model_copy(update={"k": 2}))
    assert graded(db) == before


def test_lexical_candidates_come_from_duckdb_full_text_search(db: Path, tiny_model: str) -> None:
    ingest("demo", db=db)
    summary = mine_benchmark("demo", db=db, config=MiningConfig(scorer_model=tiny_model, k=0, lexical_k=3))
    assert summary.by_origin.get("lexical", 0) > 0


def test_bad_inputs_get_specific_messages(db: Path, samples: Path, tiny_model: str) -> None:
    ingest("demo", db=db)
    with pytest.raises(WarehouseError, match="benchmark 'arc_easy' is not ingested yet"):
        mine_benchmark("arc_easy", db=db, config=MiningConfig(scorer_model=tiny_model))
    with pytest.raises(WarehouseError, match=r"model path .*missing-model does not exist"):
        mine_benchmark("demo", db=db, config=MiningConfig(scorer_model="./missing-model"))
    ingest("winogrande", db=db, path=samples / "winogrande", limit=5)
    with pytest.raises(WarehouseError, match="no answer texts to mine"):
        mine_benchmark("winogrande", db=db, config=MiningConfig(scorer_model=tiny_model))
    summary = mine_benchmark("winogrande", db=db, config=MiningConfig(scorer_model=tiny_model, k=0))
    assert summary.by_origin == {"own_distractor": 10}
