"""The Dagster side of ingestion: the partitioned `items` asset, its checks, the partitions sensor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_runs import PIPELINE_ASSET_NAMES
from spec_files import quiz_spec

from likra.experiments.config import EXPERIMENTS
from pipelines.definitions import defs
from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, WarehouseResource
from pipelines.defs.sensors import benchmark_partitions_sensor
from warehouse.db import connect
from warehouse.ingest import ingest
from warehouse.quality import items_quality
from warehouse.sources import builtin_benchmarks, load_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def instance():
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions(benchmark_partitions.name, ["arc_challenge", "piqa", "demo"])
        yield test_instance


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_items_materialises_two_partitions_with_checks_passing(samples: Path, db: Path, instance) -> None:
    warehouse = WarehouseResource(db_path=str(db), benchmarks_dir=str(samples))
    for benchmark, expected in (("arc_challenge", 1172), ("piqa", 1000)):
        result = dg.materialize([items], partition_key=benchmark, instance=instance, resources={"warehouse": warehouse})

        assert result.success
        assert _checks(result) == {
            "item_ids_unique": True,
            "gold_in_range": True,
            "two_nonempty_choices": True,
            "reject_rate": True,
        }
        [materialization] = result.asset_materializations_for_node("items")
        assert materialization.partition == benchmark
        assert materialization.metadata["dagster/row_count"].value == expected
        assert f"`{benchmark}/" in materialization.metadata["preview"].value
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT benchmark, count(*) FROM items GROUP BY ALL ORDER BY 1").fetchall() == [
            ("arc_challenge", 1172),
            ("piqa", 1000),
        ]


def test_items_run_config_limits_and_warns_on_rejects(samples: Path, tmp_path: Path, db: Path, instance) -> None:
    folder = tmp_path / "piqa"
    folder.mkdir()
    (folder / "dev.jsonl").write_text((samples / "piqa" / "dev.jsonl").read_text())
    (folder / "dev-labels.lst").write_text("0\n9\n9\n1\n")  # 2 bad labels, and 996 rows without one
    config = {"ops": {"items": {"config": {"path": str(folder), "limit": 50, "max_reject_rate": 0.05}}}}

    result = dg.materialize(
        [items],
        partition_key="piqa",
        instance=instance,
        run_config=config,
        resources={"warehouse": WarehouseResource(db_path=str(db))},
    )

    assert result.success  # a high reject rate warns; it does not block
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["reject_rate"].passed
    assert evaluations["reject_rate"].severity == dg.AssetCheckSeverity.WARN
    assert result.asset_materializations_for_node("items")[0].metadata["dagster/row_count"].value == 2


def test_bad_source_fails_the_run_and_keeps_previous_rows(samples: Path, tmp_path: Path, db: Path, instance) -> None:
    warehouse = WarehouseResource(db_path=str(db), benchmarks_dir=str(samples))
    assert dg.materialize(
        [items], partition_key="arc_challenge", instance=instance, resources={"warehouse": warehouse}
    ).success
    bogus = tmp_path / "ARC-Challenge-Test.jsonl"
    bogus.write_text('{"not": "arc"}\n')

    result = dg.materialize(
        [items],
        partition_key="arc_challenge",
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"items": {"config": {"path": str(bogus)}}}},
        resources={"warehouse": warehouse},
    )

    assert not result.success
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 1172


def test_quality_counts_what_the_blocking_checks_guard(db: Path) -> None:
    ingest("demo", db=db)
    with connect(db) as con:
        con.execute("UPDATE items SET gold = 7 WHERE item_id = 'demo/test/demo-001'")
        con.execute("UPDATE items SET choices = ['only', ' '] WHERE item_id = 'demo/test/demo-002'")
        quality = items_quality(con, "demo")
    assert (quality.n_items, quality.duplicate_ids, quality.gold_out_of_range, quality.too_few_choices) == (40, 0, 1, 1)


def test_sensor_adds_builtin_and_registered_partitions(samples: Path, tmp_path: Path, db: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"task: my_arc\ndataset_path: json\ndataset_kwargs: {{data_files: {samples}/arc_easy/ARC-Easy-Test.jsonl}}\n"
        "doc_to_text: '{{question.stem}}'\n"
        "doc_to_choice: \"{{question.choices | map(attribute='text') | list}}\"\n"
        "doc_to_target: \"{{(question.choices | map(attribute='label') | list).index(answerKey)}}\"\n"
    )
    ingest(load_spec(spec), db=db, limit=3, allow_outside_files=True)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"warehouse": WarehouseResource(db_path=str(db))}
        )
        result = benchmark_partitions_sensor(context)
        [request] = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == sorted([*builtin_benchmarks(), "my_arc"])
        instance.add_dynamic_partitions(benchmark_partitions.name, list(request.partition_keys))
        assert benchmark_partitions_sensor(context).dynamic_partitions_requests == []


def test_definitions_load_and_writers_share_one_pool() -> None:
    assert {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()} == {
        *PIPELINE_ASSET_NAMES,
        *(f"experiment_{name.replace('-', '_')}" for name in EXPERIMENTS),
    }
    assert items.op.pool == WAREHOUSE_POOL
    validated = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stderr[-2000:]


def test_items_ingests_a_spec_found_in_the_watched_folder(tmp_path: Path, db: Path, instance) -> None:
    root = tmp_path / "benchmarks"
    root.mkdir()
    quiz_spec(root)
    instance.add_dynamic_partitions(benchmark_partitions.name, ["quiz"])
    warehouse = WarehouseResource(db_path=str(db), benchmarks_dir=str(root))

    result = dg.materialize([items], partition_key="quiz", instance=instance, resources={"warehouse": warehouse})

    assert result.success
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM items WHERE benchmark = 'quiz'").fetchone()[0] == 40
        assert con.execute("SELECT benchmark FROM benchmark_specs").fetchall() == [("quiz",)]


def test_items_refuses_a_spec_for_another_benchmark(tmp_path: Path, db: Path, instance) -> None:
    spec = quiz_spec(tmp_path, "other_quiz")
    config = {"ops": {"items": {"config": {"spec": str(spec)}}}}

    result = dg.materialize(
        [items],
        partition_key="piqa",
        instance=instance,
        run_config=config,
        raise_on_error=False,
        resources={"warehouse": WarehouseResource(db_path=str(db))},
    )

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "describes benchmark 'other_quiz', not this partition ('piqa')" in str(failure.step_failure_data.error)
