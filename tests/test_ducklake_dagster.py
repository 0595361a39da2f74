"""The Dagster side on DuckLake: the WarehouseResource takes a DuckLake setting like a file path."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.ingest.assets import items
from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WarehouseResource
from pipelines.defs.sensors import known_benchmarks
from warehouse.db import connect_read_only


def test_items_materialise_into_ducklake_with_checks_passing(lake_pg: str) -> None:
    warehouse = WarehouseResource(db_path=lake_pg)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, ["demo"])
        for _ in range(2):  # a second materialisation replaces the partition's rows
            result = dg.materialize(
                [items], partition_key="demo", instance=instance, resources={"warehouse": warehouse}
            )
            assert result.success
            assert all(e.passed for e in result.get_asset_check_evaluations())
    with connect_read_only(lake_pg) as con:
        assert con.execute("SELECT count(*), count(DISTINCT item_id) FROM items").fetchone() == (40, 40)
    assert "demo" in known_benchmarks(warehouse)
