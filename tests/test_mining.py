"""Mining: normalisation, candidate filters, tiers, caches, and runs that fail without losing the last good set."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from quiz_items import occurrences, unit
from quiz_items import quiz_item as item

import likra.scoring.cached as scoring_cached
import mining.run as mining_run
from likra.models import ModelLoadError
from mining.candidates import generate
from mining.config import MiningConfig, MiningConfigError, mining_config
from mining.embeddings import Embedder, cached_embeddings, embedding_frame, missing_embeddings, token_budget_batches
from mining.errors import MiningError
from mining.grading import TierRules, grade
from mining.inputs import MiningInputs, candidates_key
from mining.pool import answer_pool
from mining.run import mine_benchmark
from warehouse.db import connect
from warehouse.errors import WarehouseError
from warehouse.ingest import ingest
from warehouse.sinks import save_rows
from warehouse.text import normalize
from warehouse.text import short_text_hash as text_hash


def test_normalisation_ignores_case_whitespace_and_punctuation() -> None:
    assert normalize("  The Liver. ") == normalize("the   liver") == "the liver"
    assert normalize("Carbon-dioxide!") == "carbon dioxide"
    assert normalize("Ｍars") == "mars"  # full-width letters fold too
    assert normalize("liver") != normalize("livers")


def test_filters_drop_gold_duplicates_and_paraphrases_and_count_them() -> None:
    planets = item("quiz/test/1", "Which planet is red?", ["Mars", "Venus", "mars.", "Jupiter"], 0)
    other = item("quiz/test/2", "Which planet has rings?", ["Saturn", "MARS", "the red planet Mars", "Neptune"], 0)
    vectors = {
        text_hash(t): v
        for t, v in {
            "Mars": unit(1, 0, 0),
            "MARS": unit(1, 0, 0),
            "mars.": unit(1, 0, 0),
            "the red planet Mars": unit(0.97, 0.2, 0),
            "Venus": unit(0.6, 0.8, 0),
            "Jupiter": unit(0.5, 0, 0.87),
            "Saturn": unit(0.4, 0.3, 0.87),
            "Neptune": unit(0.3, 0.6, 0.74),
            "Which planet is red?": unit(0.8, 0.6, 0),
            "Which planet has rings?": unit(0.3, 0.3, 0.9),
        }.items()
    }
    pool = answer_pool(occurrences([planets, other]))

    found = generate([planets], pool, vectors, MiningConfig(k=5, max_sim_to_gold=0.9))

    kept = dict(zip(found.frame["text"].to_list(), found.frame["origin"].to_list()))
    assert kept == {
        "Venus": "own_distractor",
        "Jupiter": "own_distractor",
        "Saturn": "cross_question",
        "Neptune": "cross_question",
    }
    # "mars." repeats the item's gold after normalisation, and "MARS" is the gold again as another question's
    # answer; "the red planet Mars" is a paraphrase (cosine 0.98).
    assert found.removed == {"equals_gold": 2, "too_similar_to_gold": 1}
    assert found.items_without == 0
    saturn = found.frame.filter(pl.col("text") == "Saturn").row(0, named=True)
    assert saturn["origin_item_id"] == "quiz/test/2" and saturn["search_rank"] >= 1
    assert saturn["sim_gold"] == pytest.approx(float(unit(0.4, 0.3, 0.87) @ unit(1, 0, 0)), abs=1e-6)


def test_tiers_follow_the_documented_rules() -> None:
    frame = pl.DataFrame(
        {
            "margin_per_token": [0.3, -0.4, -0.4, -1.0, -2.0],
            "margin_per_char": [0.0] * 5,
            "margin": [0.0] * 5,
            "sim_gold": [0.5, 0.5, 0.1, 0.9, 0.9],
        }
    )
    per_token = TierRules(measure="per_token")
    assert grade(frame, per_token)["tier"].to_list() == ["near_miss", "near_miss", "plausible", "plausible", "far"]
    strict = TierRules(measure="per_token", near_miss_margin=0.0, plausible_margin=-0.5)
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
        return con.execute(
            "SELECT mining_run_id, item_id, norm_hash, loglik, tier FROM graded_negatives ORDER BY item_id, norm_hash"
        ).fetchall()


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
    assert sum(summary["by_tier"].values()) == 320 and tiers <= {"near_miss", "plausible", "far", "unverified"}
    assert near == summary["by_tier"].get("near_miss", 0)
    assert set(summary["statistics"]) >= {"gold_loglik", "negative_loglik", "margin_per_token", "sim_gold"}


def forbidden(*args, **kwargs):
    raise AssertionError("work ran although its inputs were unchanged")


def run_ids(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r for (r,) in con.execute("SELECT run_id FROM mining_runs ORDER BY finished_at").fetchall()]


def test_remining_unchanged_inputs_computes_and_searches_nothing(mined_demo, monkeypatch) -> None:
    db, config = mined_demo
    before = [row[1:] for row in graded(db)]
    [first_run] = run_ids(db)
    monkeypatch.setattr(Embedder, "encode", forbidden)
    monkeypatch.setattr(scoring_cached, "load_model", forbidden)
    monkeypatch.setattr(mining_run, "find_candidates", forbidden)

    summary = mine_benchmark("demo", db=db, config=config)

    assert summary.candidates_from == first_run
    assert summary.embeddings == {"cached": 0, "computed": 0}  # reused candidates need no embedding at all
    assert summary.logliks["computed"] == 0 and summary.logliks["cached"] > 0
    assert summary.negatives == 320
    assert [row[1:] for row in graded(db)] == before


def test_new_tier_rules_regrade_the_stored_candidates(mined_demo, monkeypatch) -> None:
    db, config = mined_demo
    monkeypatch.setattr(Embedder, "encode", forbidden)
    monkeypatch.setattr(scoring_cached, "load_model", forbidden)
    monkeypatch.setattr(mining_run, "find_candidates", forbidden)
    strict = config.model_copy(update={"tiers": TierRules(near_miss_margin=5.0, plausible_margin=4.0)})

    summary = mine_benchmark("demo", db=db, config=strict)

    assert summary.candidates_from is not None and summary.config_hash != config.digest()
    # Every verified negative is far now; the verifier's suspects stay unverified whatever the margins.
    assert set(summary.by_tier) == {"far", "unverified"} and sum(summary.by_tier.values()) == 320
    assert 0 < summary.by_tier["unverified"] <= sum(summary.verifier.values())  # a suspect may count for two rules


def test_changed_settings_or_items_search_again_from_cached_embeddings(mined_demo, monkeypatch) -> None:
    db, config = mined_demo
    monkeypatch.setattr(Embedder, "encode", forbidden)

    fewer = mine_benchmark("demo", db=db, config=config.model_copy(update={"k": 2}))
    assert fewer.candidates_from is None and fewer.by_origin == {"own_distractor": 120, "cross_question": 80}
    assert fewer.embeddings["computed"] == 0 and fewer.embeddings["cached"] > 0

    ingest("demo", db=db, limit=30)  # the benchmark changed: ten items and their answers are gone
    smaller = mine_benchmark("demo", db=db, config=config)
    assert smaller.candidates_from is None and smaller.items == 30

    forced = mine_benchmark("demo", db=db, config=config, reuse=False)
    assert forced.candidates_from is None


def test_the_candidates_key_covers_what_candidates_depend_on() -> None:
    quiz = item("quiz/test/1", "Which planet is red?", ["Mars", "Venus"], 0)
    choices = occurrences([quiz])
    inputs = MiningInputs("quiz", [quiz], answer_pool(choices), {})
    key = candidates_key(inputs, MiningConfig())

    assert candidates_key(inputs, MiningConfig(scorer_model="other", tiers=TierRules(measure="sum"))) == key
    assert candidates_key(inputs, MiningConfig(k=3)) != key
    assert candidates_key(inputs, MiningConfig(max_sim_to_gold=0.8)) != key
    changed = item("quiz/test/1", "Which planet is red?", ["Mars", "Venus", "Jupiter"], 0)
    assert candidates_key(MiningInputs("quiz", [changed], inputs.pool, {}), MiningConfig()) != key
    bigger_pool = answer_pool(pl.concat([choices, choices.with_columns(pl.lit("quiz/test/2").alias("item_id"))]))
    assert candidates_key(MiningInputs("quiz", [quiz], bigger_pool, {}), MiningConfig()) != key


def test_a_failed_run_leaves_the_previous_negatives_and_keeps_its_candidates(mined_demo, monkeypatch) -> None:
    db, config = mined_demo
    before = graded(db)

    def broken(*args, **kwargs):
        raise RuntimeError("killed while grading")

    fewer = config.model_copy(update={"k": 2})
    monkeypatch.setattr(mining_run, "grade", broken)
    with pytest.raises(RuntimeError, match="killed while grading"):
        mine_benchmark("demo", db=db, config=fewer)
    assert graded(db) == before

    # The candidates the failed run found were stored: the retry grades them without searching again.
    monkeypatch.undo()
    monkeypatch.setattr(mining_run, "find_candidates", forbidden)
    retry = mine_benchmark("demo", db=db, config=fewer)
    assert retry.candidates_from is not None and retry.candidates_from not in run_ids(db)  # the failed run found them
    assert retry.by_origin == {"own_distractor": 120, "cross_question": 80}


def test_the_embedding_cache_keeps_one_row_per_text_and_reports_what_it_lacks(db: Path) -> None:
    ingest("demo", db=db)
    vectors = np.eye(3, dtype=np.float32)
    with connect(db) as con:
        save_rows(con, "text_embeddings", embedding_frame("m@1", ["a", "b", "c"], vectors))
        save_rows(
            con, "text_embeddings", embedding_frame("m@1", ["b", "c", "d"], vectors * 2)
        )  # b and c are cached already
        rows = con.execute("SELECT text_hash, embedding FROM text_embeddings ORDER BY text_hash").fetchall()
        assert [h for h, _ in rows] == ["a", "b", "c", "d"]
        assert rows[1][1] == [0.0, 1.0, 0.0]  # the first write of "b" stands
        assert missing_embeddings(con, "m@1", ["a", "x", "d", "y"]) == {"x", "y"}
        assert missing_embeddings(con, "other@2", ["a"]) == {"a"}
        assert set(cached_embeddings(con, "m@1", ["a", "d", "x"])) == {"a", "d"}


def test_token_budget_batches_cover_every_text_once_within_the_budget() -> None:
    lengths = [3, 40, 7, 7, 120, 2, 9, 300, 5, 5, 5]
    batches = token_budget_batches(lengths, budget=64, max_batch=4)
    flat = [int(i) for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)  # longest first
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert len(batch) <= 4 and (padded <= 64 or len(batch) == 1)
    assert [len(b) for b in batches][:3] == [1, 1, 1]  # 300, 120 and 40 tokens: each alone


@pytest.mark.slow
def test_batching_by_tokens_gives_the_model_s_own_embeddings() -> None:
    from mining.embeddings import _load_sentence_transformer

    texts = [
        "Mars",
        "Which planet of the solar system is known as the red planet, and why?",
        "the liver",
        "H2O",
        "A long answer that explains photosynthesis in plants, which turns light into chemical energy.",
    ] * 7
    ours = Embedder(token_budget=64).encode(texts)
    model = _load_sentence_transformer(Embedder().spec, None)
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == reference.shape == (35, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_lexical_candidates_come_from_duckdb_full_text_search(db: Path, tiny_model: str) -> None:
    ingest("demo", db=db)
    summary = mine_benchmark("demo", db=db, config=MiningConfig(scorer_model=tiny_model, k=0, lexical_k=3))
    assert summary.by_origin.get("lexical", 0) > 0


def test_bad_inputs_get_specific_messages(db: Path, samples: Path, tiny_model: str) -> None:
    ingest("demo", db=db)
    with pytest.raises(WarehouseError, match="benchmark 'arc_easy' is not ingested yet"):
        mine_benchmark("arc_easy", db=db, config=MiningConfig(scorer_model=tiny_model))
    with pytest.raises(ModelLoadError, match=r"model path .*missing-model does not exist"):
        mine_benchmark("demo", db=db, config=MiningConfig(scorer_model="./missing-model"))
    ingest("winogrande", db=db, path=samples / "winogrande", limit=5)
    with pytest.raises(MiningError, match="no answer texts to mine"):
        mine_benchmark("winogrande", db=db, config=MiningConfig(scorer_model=tiny_model))
    summary = mine_benchmark("winogrande", db=db, config=MiningConfig(scorer_model=tiny_model, k=0))
    assert summary.by_origin == {"own_distractor": 10}


def test_an_older_warehouse_keeps_its_cached_embeddings_when_migrated(db: Path) -> None:
    from warehouse.db import _migrations, latest_version, schema_version

    with duckdb.connect(str(db)) as con:  # a warehouse written before candidate sets existed
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMP NOT NULL)"
        )
        for version, name, sql in _migrations()[:3]:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, name])
        con.execute("INSERT INTO text_embeddings VALUES ('m@1', 'h1', [0.6, 0.8], now()::TIMESTAMP)")

    with connect(db) as con:
        assert schema_version(con) == latest_version() >= 4
        assert con.execute("SELECT model, text_hash, embedding FROM text_embeddings").fetchall() == [
            ("m@1", "h1", [0.6000000238418579, 0.800000011920929])
        ]
        assert missing_embeddings(con, "m@1", ["h1", "h2"]) == {"h2"}
