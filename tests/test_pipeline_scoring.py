"""The scoring assets: base_scores computes outside the writer pool, choice_scores writes in it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
from tiny_models import save_tiny_model

from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WAREHOUSE_POOL, WarehouseResource
from pipelines.defs.scoring.assets import base_scores, choice_scores


def test_scoring_assets_materialise_a_partition(db: Path, tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "tiny-llama")
    config = {"ops": {"base_scores": {"config": {"model": str(model), "limit": 10}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, ["demo"])
        result = dg.materialize(
            [items, base_scores, choice_scores],
            partition_key="demo",
            instance=instance,
            run_config=config,
            resources={"warehouse": WarehouseResource(db_path=str(db))},
        )

    assert result.success
    computed = result.asset_materializations_for_node("base_scores")[0].metadata
    assert computed["choices"].value == 40 and computed["cached"].value == 0
    assert result.asset_materializations_for_node("choice_scores")[0].metadata["dagster/row_count"].value == 40
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT n_items FROM accuracy").fetchall() == [(10,)]
    assert {op.pool for op in base_scores.node_def.iterate_op_defs()} == {None}
    assert choice_scores.op.pool == WAREHOUSE_POOL
