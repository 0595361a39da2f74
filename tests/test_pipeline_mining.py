"""The mining assets in Dagster, the benchmark-files sensor and the re-mining schedule."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_runs import materialize_mining
from spec_files import quiz_spec

from pipelines.defs.ingest.assets import items
from pipelines.defs.jobs import MINING_ASSETS
from pipelines.defs.mining.assets import CODE_VERSION
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, WarehouseResource, pipeline_resources
from pipelines.defs.schedules import remine_schedule
from pipelines.defs.scoring.assets import base_scores, choice_scores
from pipelines.defs.sensors import benchmark_files_sensor
from warehouse.sources.collection import scan_collection


@pytest.mark.slow
def test_mining_assets_on_real_samples_with_the_offline_models(samples: Path, db: Path) -> None:
    result = materialize_mining(
        "arc_challenge",
        db,
        run_config={"ops": {"items": {"config": {"path": str(samples / "arc_challenge"), "limit": 25}}}},
    )

    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["no_negative_equals_gold"] and checks["no_null_scores"] and checks["items_have_negatives"]
    assert checks["keys_unique"]
    [graded] = result.asset_materializations_for_node("graded_negatives")
    assert graded.metadata["dagster/row_count"].value > 25 * 3
    assert "data:image/png;base64," in graded.metadata["histograms"].value
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT benchmark, config_hash FROM mining_runs").fetchall()
        # The own distractors were scored already by base_scores: mining reused those log-likelihoods.
        summary = json.loads(con.execute("SELECT summary FROM mining_runs").fetchone()[0])
    assert runs == [("arc_challenge", CODE_VERSION)]
    assert summary["logliks"]["cached"] >= 25 * 3

    # Re-mining the unchanged partition embeds nothing and reuses the candidates without searching.
    again = materialize_mining("arc_challenge", db, selection=MINING_ASSETS)
    assert again.success
    [embedded] = again.asset_materializations_for_node("answer_embeddings")
    [found] = again.asset_materializations_for_node("candidates")
    [regraded] = again.asset_materializations_for_node("graded_negatives")
    assert embedded.metadata["embeddings_computed"].value == 0 and embedded.metadata["candidates_unchanged"].value
    assert found.metadata["reused"].value and found.metadata["found_by_run"].value == result.run_id
    assert regraded.metadata["candidates_reused_from"].value == result.run_id
    assert regraded.metadata["dagster/row_count"].value == graded.metadata["dagster/row_count"].value


def test_writers_are_in_the_pool_and_compute_is_not() -> None:
    by_name = {asset.key.to_user_string(): asset for asset in MINING_ASSETS}
    assert by_name["candidates"].op.pool == by_name["graded_negatives"].op.pool == WAREHOUSE_POOL
    assert by_name["answer_embeddings"].op.pool is None
    assert {op.pool for op in by_name["candidate_scores"].node_def.iterate_op_defs()} == {None}
    assert {asset.code_versions_by_key[asset.key] for asset in MINING_ASSETS} == {CODE_VERSION}


def test_files_sensor_requests_runs_for_new_and_changed_benchmarks(samples: Path, tmp_path: Path) -> None:
    root = tmp_path / "benchmarks"
    (root / "piqa").mkdir(parents=True)
    for name in ("dev.jsonl", "dev-labels.lst"):
        shutil.copy(samples / "piqa" / name, root / "piqa" / name)
    warehouse = WarehouseResource(db_path=str(tmp_path / "w.duckdb"), benchmarks_dir=str(root))
    with dg.instance_for_test() as instance:
        first = benchmark_files_sensor(dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}))
        assert [r.partition_key for r in first.run_requests] == ["piqa"]
        assert first.run_requests[0].run_config["ops"]["items"]["config"]["path"] == str(root / "piqa")
        assert first.dynamic_partitions_requests[0].partition_keys == ["piqa"]

        unchanged = benchmark_files_sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"warehouse": warehouse})
        )
        assert unchanged.run_requests == []

        shutil.copytree(samples / "arc_easy", root / "arc_easy")
        (root / "piqa" / "dev-labels.lst").write_text("0\n" * 1000)
        changed = benchmark_files_sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"warehouse": warehouse})
        )
        assert sorted(r.partition_key for r in changed.run_requests) == ["arc_easy", "piqa"]
        assert changed.run_requests[0].run_key != first.run_requests[0].run_key


def test_files_sensor_watches_spec_files_and_the_data_they_name(tmp_path: Path) -> None:
    root = tmp_path / "benchmarks"
    root.mkdir()
    spec = quiz_spec(root)
    (root / "broken.yaml").write_text("task: broken\ndataset_path: json\n")
    warehouse = WarehouseResource(db_path=str(tmp_path / "w.duckdb"), benchmarks_dir=str(root))
    with dg.instance_for_test() as instance:
        first = benchmark_files_sensor(dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}))
        assert [r.partition_key for r in first.run_requests] == ["quiz"]  # the broken spec does not stop it
        assert first.run_requests[0].run_config == {"ops": {"items": {"config": {"spec": str(spec)}}}}
        assert first.dynamic_partitions_requests[0].partition_keys == ["quiz"]

        with (root / "quiz.jsonl").open("a") as data:
            data.write('{"id": "q-41", "question": "What do bees make?", "choices": ["honey", "silk"], "answer": 0}\n')
        changed = benchmark_files_sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"warehouse": warehouse})
        )
        assert [r.partition_key for r in changed.run_requests] == ["quiz"]
        assert changed.run_requests[0].run_key != first.run_requests[0].run_key


def test_the_collection_names_spec_files_it_cannot_use(tmp_path: Path) -> None:
    quiz_spec(tmp_path)
    (tmp_path / "broken.yaml").write_text("task: broken\ndataset_path: json\n")
    (tmp_path / "shadow.yaml").write_text(quiz_spec(tmp_path, "piqa").read_text())
    (tmp_path / "twin.yml").write_text((tmp_path / "quiz.yaml").read_text())

    found = scan_collection(tmp_path)

    assert sorted(found.benchmarks) == ["quiz"]
    problems = "\n".join(found.problems)
    assert "broken.yaml: spec" in problems and "missing required key 'doc_to_text'" in problems
    assert "shadow.yaml: task 'piqa' is a built-in benchmark" in problems
    assert "twin.yml: task 'quiz' is also defined by quiz.yaml" in problems


def test_files_sensor_skips_without_a_folder(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        result = benchmark_files_sensor(
            dg.build_sensor_context(
                instance=instance, resources={"warehouse": WarehouseResource(db_path=str(tmp_path / "w.duckdb"))}
            )
        )
    assert result.run_requests is None or result.run_requests == []
    assert "no benchmark-files folder" in (result.skip_reason.skip_message if result.skip_reason else "")


def test_remine_schedule_requests_every_partition() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, ["arc_challenge", "demo"])
        requests = remine_schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 29, 3))
        )
    assert sorted(r.partition_key for r in requests) == ["arc_challenge", "demo"]
    assert requests[0].run_key.endswith("-20261129T0300")


@pytest.mark.slow
def test_one_run_config_block_sets_every_mining_stage(db: Path, tmp_path: Path) -> None:
    from tiny_models import save_tiny_model

    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    run_config = {
        "ops": {"base_scores": {"config": {"model": model}}},
        "resources": {"mining": {"config": {"scorer_model": model, "k": 2, "tiers": {"near_miss_margin": 0.0}}}},
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, ["demo"])
        result = dg.materialize(
            [items, base_scores, choice_scores, *MINING_ASSETS],
            partition_key="demo",
            instance=instance,
            resources=pipeline_resources(str(db)),
            run_config=run_config,
        )

    assert result.success
    with duckdb.connect(str(db), read_only=True) as con:
        [(config,)] = con.execute("SELECT config FROM mining_runs").fetchall()
        origins = dict(con.execute("SELECT origin, count(*) FROM graded_negatives GROUP BY origin").fetchall())
    config = json.loads(config)
    assert config["k"] == 2 and config["scorer_model"] == model and config["tiers"]["near_miss_margin"] == 0.0
    assert origins["cross_question"] == 2 * 40  # the candidates stage used k = 2 as well
