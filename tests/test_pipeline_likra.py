"""The Likra assets in Dagster: training set, heads, evaluation scores and metrics for a benchmark partition."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_runs import materialize_partition
from tiny_models import save_tiny_model

from pipelines.defs.ingest.assets import items
from pipelines.defs.jobs import LIKRA_ASSETS, MINING_ASSETS
from pipelines.defs.likra.assets import CODE_VERSION
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, pipeline_resources
from pipelines.defs.scoring.assets import base_scores, choice_scores


def materialize_demo(db: Path, assets: list, run_config: dict, **options) -> dg.ExecuteInProcessResult:
    return materialize_partition(assets, "demo", db, run_config=run_config, **options)


def likra_config(model: str, **values) -> dict:
    return {"resources": {"likra": {"config": {"model": model, "sizes": [4, 8], "batch_size": 4, **values}}}}


def test_likra_assets_materialise_a_partition(db: Path, tmp_path: Path) -> None:
    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    result = materialize_demo(db, [items, *LIKRA_ASSETS], likra_config(model))

    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["enough_training_rows"] and checks["no_eval_question_in_training"]
    [training] = result.asset_materializations_for_node("likra_training_set")
    [evaluation] = result.asset_materializations_for_node("likra_eval")
    assert training.metadata["training_questions"].value == 16 and training.metadata["sizes"].value == [4, 8]
    assert "data:image/png;base64," in evaluation.metadata["plot"].value
    assert "| fewshot   | n_examples   | base" in evaluation.metadata["learning_curve"].value
    with duckdb.connect(str(db), read_only=True) as con:
        modes = {m for (m,) in con.execute("SELECT DISTINCT mode FROM likra_eval WHERE n_examples = 8").fetchall()}
        checkpoints = con.execute("SELECT count(*) FROM likra_checkpoints").fetchone()[0]
    assert modes == {"base", "sft", "likra", "negbase", "posbase"} and checkpoints == 4


def test_a_run_of_the_likra_group_builds_its_training_set_once(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import likra.data

    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    materialize_demo(db, [items], {})
    builds = []
    split = likra.data.split_items  # every build of a training set starts by splitting the items
    monkeypatch.setattr(likra.data, "split_items", lambda *args: (builds.append(args[1]), split(*args))[1])

    result = materialize_demo(db, LIKRA_ASSETS, likra_config(model))

    assert result.success and builds == ["demo"]
    [heads] = result.asset_materializations_for_node("likra_heads")
    [training] = result.asset_materializations_for_node("likra_training_set")
    assert heads.metadata["run_id"].value == training.metadata["run_id"].value


def test_heads_refuse_a_training_set_made_with_other_settings(db: Path, tmp_path: Path) -> None:
    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, ["demo"])
        run = dict(partition_key="demo", instance=instance, resources=pipeline_resources(str(db)))
        assert dg.materialize([items, LIKRA_ASSETS[0]], run_config=likra_config(model), **run).success
        heads = dg.materialize(LIKRA_ASSETS[1:2], run_config=likra_config(model, seed=7), raise_on_error=False, **run)

    assert not heads.success
    failure = next(e for e in heads.all_events if e.event_type_value == "STEP_FAILURE")
    assert "was materialised with other Likra settings" in failure.step_failure_data.error.to_string()


def test_too_large_a_size_stops_before_training(db: Path, tmp_path: Path) -> None:
    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    result = materialize_demo(db, [items, *LIKRA_ASSETS], likra_config(model, sizes=[4, 512]), raise_on_error=False)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["enough_training_rows"] is False
    assert not result.asset_materializations_for_node("likra_heads")  # the blocking check stopped the run there
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM likra_checkpoints").fetchone()[0] == 0


def test_writers_are_in_the_pool_and_training_is_not() -> None:
    by_name = {asset.key.to_user_string(): asset for asset in LIKRA_ASSETS}
    assert by_name["likra_training_set"].op.pool == by_name["likra_eval"].op.pool == WAREHOUSE_POOL
    assert by_name["likra_heads"].op.pool is None and by_name["likra_eval_scores"].op.pool is None
    assert {asset.code_versions_by_key[asset.key] for asset in LIKRA_ASSETS} == {CODE_VERSION}


@pytest.mark.slow
def test_the_whole_graph_trains_on_mined_near_misses(db: Path, tmp_path: Path) -> None:
    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    run_config = {
        "ops": {"base_scores": {"config": {"model": model}}},
        "resources": {
            "mining": {
                "config": {"scorer_model": model, "k": 3, "tiers": {"near_miss_margin": -3.0, "plausible_margin": -4.0}}
            },
            **likra_config(model, policy="mined_near_miss")["resources"],
        },
    }
    result = materialize_demo(db, [items, base_scores, choice_scores, *MINING_ASSETS, *LIKRA_ASSETS], run_config)

    assert result.success
    with duckdb.connect(str(db), read_only=True) as con:
        taught = con.execute("""SELECT count(*), count(*) FILTER (WHERE g.tier = 'near_miss')
                                FROM likra_training_rows r JOIN graded_negatives g
                                  ON g.item_id = r.item_id AND g.negative = r.answer
                                WHERE r.head = 'negative'""").fetchone()
    assert taught[0] > 0 and taught[0] == taught[1]  # every negative row is a mined near miss
