"""Sensors: keep the benchmark partitions in step with the built-ins and the specs in the warehouse, and
ingest and re-mine a benchmark when its files appear or change in a watched folder."""

import json

import dagster as dg

from pipelines.defs.partitions import benchmark_partitions
from pipelines.defs.resources import WarehouseResource
from warehouse.db import connect_read_only, warehouse_exists
from warehouse.errors import WarehouseError
from warehouse.sources import builtin_benchmarks, registered_specs
from warehouse.sources.collection import WatchedBenchmark, scan_collection


def known_benchmarks(warehouse: WarehouseResource) -> list[str]:
    """Built-in benchmark names plus those registered by specs (if the warehouse can be read now)."""
    names = set(builtin_benchmarks())
    if warehouse_exists(warehouse.db_path):
        try:
            with connect_read_only(warehouse.db_path) as con:
                names |= set(registered_specs(con))
        except WarehouseError:
            pass  # a writer holds the file; the next tick will see the specs
    return sorted(names)


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a benchmark partition for every built-in and registered benchmark.",
)
def benchmark_partitions_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    existing = set(context.instance.get_dynamic_partitions(benchmark_partitions.name))
    missing = [name for name in known_benchmarks(warehouse) if name not in existing]
    requests = [benchmark_partitions.build_add_request(missing)] if missing else []
    return dg.SensorResult(dynamic_partitions_requests=requests)


def ingest_config(found: WatchedBenchmark) -> dict:
    """Run config of the `items` asset that ingests a benchmark from its files in the watched folder."""
    source = {"spec": str(found.spec)} if found.spec is not None else {"path": str(found.path)}
    return {"ops": {"items": {"config": source}}}


@dg.sensor(
    job_name="refresh",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches the benchmark-files folder (resource benchmarks_dir / $LIKRA_BENCHMARKS_DIR): one "
    "subfolder per built-in benchmark and spec files (*.yaml) for any other. A benchmark whose files are new or "
    "changed is ingested from them and re-mined.",
)
def benchmark_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    root = warehouse.benchmarks_root()
    if root is None or not root.is_dir():
        return dg.SensorResult(skip_reason=f"no benchmark-files folder to watch ({root or 'not configured'})")
    seen = json.loads(context.cursor) if context.cursor else {}
    collection = scan_collection(root)
    for problem in collection.problems:  # one bad spec file must not stop the others
        context.log.warning(f"benchmark files in {root}: {problem}")
    cursor = {name: found.fingerprint() for name, found in collection.benchmarks.items()}
    changed = [found for name, found in collection.benchmarks.items() if seen.get(name) != cursor[name]]
    existing = set(context.instance.get_dynamic_partitions(benchmark_partitions.name))
    missing = [found.name for found in changed if found.name not in existing]
    runs = [
        dg.RunRequest(
            partition_key=found.name, run_key=f"{found.name}-{cursor[found.name]}", run_config=ingest_config(found)
        )
        for found in changed
    ]
    return dg.SensorResult(
        run_requests=runs,
        cursor=json.dumps(cursor, sort_keys=True),
        dynamic_partitions_requests=[benchmark_partitions.build_add_request(missing)] if missing else [],
    )
