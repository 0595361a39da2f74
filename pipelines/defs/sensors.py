"""Sensors: keep the benchmark partitions in step with the built-ins and the specs in the warehouse, and
ingest and re-mine a benchmark when its release files appear or change in a watched folder."""

import hashlib
import json
from pathlib import Path

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


def folder_fingerprint(folder: Path) -> str:
    """Content hash of every file under a benchmark's folder (names and bytes)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


def changed_benchmarks(root: Path, seen: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Fingerprints of the built-in benchmarks' folders under `root`, and the benchmarks new or changed since `seen`."""
    current = {}
    for name, benchmark in builtin_benchmarks().items():
        folder = benchmark.folder_in(root)
        if folder.is_dir():
            current[name] = folder_fingerprint(folder)
    return current, [name for name, fingerprint in current.items() if seen.get(name) != fingerprint]


@dg.sensor(job_name="refresh", minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Watches the benchmark-files folder (resource benchmarks_dir / $LIKRA_BENCHMARKS_DIR): a "
           "benchmark whose files are new or changed is ingested from them and re-mined.")
def benchmark_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    root = warehouse.benchmarks_root()
    if root is None or not root.is_dir():
        return dg.SensorResult(skip_reason=f"no benchmark-files folder to watch ({root or 'not configured'})")
    seen = json.loads(context.cursor) if context.cursor else {}
    current, changed = changed_benchmarks(root, seen)
    existing = set(context.instance.get_dynamic_partitions(benchmark_partitions.name))
    missing = [name for name in changed if name not in existing]
    runs = [dg.RunRequest(partition_key=name, run_key=f"{name}-{current[name]}",
                          run_config={"ops": {"items": {"config": {"path": str(builtin_benchmarks()[name].folder_in(root))}}}})
            for name in changed]
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(current, sort_keys=True),
                           dynamic_partitions_requests=[benchmark_partitions.build_add_request(missing)] if missing else [])
