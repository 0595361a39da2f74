"""Sensors: keep the benchmark partitions in step with the built-ins and the specs in the warehouse."""

import dagster as dg

from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WarehouseResource
from warehouse.db import connect_read_only
from warehouse.errors import WarehouseError
from warehouse.sources import builtin_benchmarks, registered_specs


def known_benchmarks(warehouse: WarehouseResource) -> list[str]:
    """Built-in benchmark names plus those registered by specs (if the warehouse can be read now)."""
    names = set(builtin_benchmarks())
    if warehouse.path().exists():
        try:
            with connect_read_only(warehouse.db_path) as con:
                names |= set(registered_specs(con))
        except WarehouseError:
            pass  # a writer holds the file; the next tick will see the specs
    return sorted(names)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Adds a benchmark partition for every built-in and registered benchmark.")
def benchmark_partitions_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    existing = set(context.instance.get_dynamic_partitions(benchmark_partitions.name))
    missing = [name for name in known_benchmarks(warehouse) if name not in existing]
    requests = [benchmark_partitions.build_add_request(missing)] if missing else []
    return dg.SensorResult(dynamic_partitions_requests=requests)

